// capacities-kb web page. Document text is only ever inserted as text (textContent,
// createTextNode); links are built from same-origin API paths and encoded ids only.
"use strict";

const state = { key: "", searchOffset: 0, docsOffset: 0, facets: {} };
const PAGE = 10;
const DOC_TYPES = {
  guideline: "Guideline", good_practice: "Good practice", ccc_material: "Climate City Contract",
  transcript: "Webinar transcript", session_notes: "Session notes", self_assessment: "Self-assessment",
  newsletter: "Newsletter", other: "Other",
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "href") node.setAttribute("href", safeHref(value));
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Only same-origin absolute paths: never a scheme, never protocol-relative.
function safeHref(value) {
  const text = String(value);
  return /^\/(?![\/\\])/.test(text) ? text : "#";
}

function fileHref(docId, page, seconds) {
  let href = "/documents/" + encodeURIComponent(docId) + "/file";
  if (Number.isInteger(page) && page > 0) href += "#page=" + page;
  else if (typeof seconds === "number" && seconds >= 0) href += "#t=" + Math.floor(seconds);
  return href;
}

function clock(seconds) {
  if (typeof seconds !== "number") return "";
  const s = Math.max(0, Math.floor(seconds));
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? Math.floor(s / 3600) + ":" + mm + ":" + ss : Math.floor(s / 60) + ":" + ss;
}

function docType(value) { return DOC_TYPES[value] || value || ""; }

function where(item) {
  const bits = [];
  if (item.page) bits.push("page " + item.page);
  const section = (item.section || []).filter((s, i) => !(i === 0 && s === item.title));
  if (section.length) bits.push(section.join(" › "));
  if (typeof item.start_s === "number") bits.push("at " + clock(item.start_s));
  if (item.speakers && item.speakers.length) bits.push(item.speakers.join(", "));
  return bits.join(" · ");
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
  if (state.key) headers["X-API-Key"] = state.key;
  let response;
  try {
    response = await fetch(path, Object.assign({}, options, { headers, credentials: "same-origin" }));
  } catch (err) {
    throw new ApiError(0, "The server cannot be reached. Check your connection and try again.");
  }
  let body = null;
  try { body = await response.json(); } catch (err) { body = null; }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : "The server answered " + response.status + ".";
    if (response.status === 401 && !options.noKeyPrompt) $("keybar").hidden = false;
    if (response.status === 429) {
      const wait = response.headers.get("Retry-After");
      throw new ApiError(429, "Too many requests. Please wait " + (wait || "a few") + " seconds and try again.");
    }
    throw new ApiError(response.status, message);
  }
  return body;
}

function setStatus(id, text, kind) {
  const node = $(id);
  node.textContent = text || "";
  node.className = "status" + (kind ? " " + kind : "");
}

async function busy(form, statusId, message, work) {
  const button = form.querySelector("button[type=submit]");
  form.setAttribute("aria-busy", "true");
  if (button) button.disabled = true;
  setStatus(statusId, message, "loading");
  try {
    await work();
  } catch (err) {
    setStatus(statusId, err.message || String(err), "error");
  } finally {
    form.removeAttribute("aria-busy");
    if (button) button.disabled = false;
  }
}

function params(filters) {
  const p = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) {
    if (Array.isArray(value)) value.forEach((v) => v && p.append(name, v));
    else if (value !== "" && value !== null && value !== undefined) p.append(name, value);
  }
  return p;
}

// ---- tabs -------------------------------------------------------------------------

function showTab(tab) {
  for (const t of document.querySelectorAll("[role=tab]")) {
    const on = t === tab;
    t.setAttribute("aria-selected", on ? "true" : "false");
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
  }
  if (tab.id === "tab-documents") loadDocuments(true);
}

function setupTabs() {
  const tabs = Array.from(document.querySelectorAll("[role=tab]"));
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => showTab(tab));
    tab.addEventListener("keydown", (event) => {
      let next = null;
      if (event.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
      if (event.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
      if (event.key === "Home") next = tabs[0];
      if (event.key === "End") next = tabs[tabs.length - 1];
      if (next) { event.preventDefault(); next.focus(); showTab(next); }
    });
  });
}

// ---- facets -----------------------------------------------------------------------

function facetLabel(facet, value) {
  if (facet === "doc_type") return docType(value);
  if (facet === "language") return value.toUpperCase();
  return value;
}

function fillSelect(select, counts) {
  const facet = select.dataset.facet;
  const current = Array.from(select.selectedOptions).map((o) => o.value);
  const first = select.multiple ? null : select.options[0];
  select.replaceChildren();
  if (first) select.append(first);
  const values = Object.keys(counts || {}).filter((v) => v).sort();
  for (const value of values) {
    const label = facetLabel(facet, value) + (select.dataset.counts || !select.multiple ? " (" + counts[value] + ")" : "");
    const option = el("option", { value }, label);
    option.selected = current.includes(value);
    select.append(option);
  }
}

async function loadFacets() {
  try {
    const body = await api("/documents?limit=1");
    state.facets = body.facets;
    for (const select of document.querySelectorAll("select[data-facet]")) {
      if (!select.dataset.counts) fillSelect(select, body.facets[select.dataset.facet]);
    }
  } catch (err) {
    setStatus("search-status", err.message, "error");
  }
}

// ---- context dialog ---------------------------------------------------------------

async function showContext(ref) {
  const dialog = $("context");
  $("context-title").textContent = ref.title || "Source";
  $("context-meta").textContent = where(ref);
  const body = $("context-body");
  body.replaceChildren(el("p", { class: "status loading" }, "Loading the passage…"));
  const link = $("context-link");
  const label = typeof ref.start_s === "number" ? "Open the transcript (minute " + clock(ref.start_s) + ")"
    : ref.page ? "Open the original at page " + ref.page : "Open the original";
  link.replaceChildren(el("a", { href: fileHref(ref.doc_id, ref.page, ref.start_s), target: "_blank", rel: "noopener" }, label));
  if (!dialog.open) dialog.showModal();
  try {
    const chunk = await api("/chunks/" + encodeURIComponent(ref.chunk_id));
    const text = chunk.text;
    let start = ref.span ? ref.span.start - chunk.span.start : -1;
    let end = ref.span ? ref.span.end - chunk.span.start : -1;
    if (!(start >= 0 && end <= text.length && start < end && text.slice(start, end) === ref.quote)) {
      start = ref.quote ? text.indexOf(ref.quote) : -1;
      end = start >= 0 ? start + ref.quote.length : -1;
    }
    const para = el("p", {});
    if (start >= 0) {
      const mark = el("mark", {}, text.slice(start, end));
      para.append(text.slice(0, start), mark, text.slice(end));
      body.replaceChildren(para);
      mark.scrollIntoView({ block: "center" });
    } else {
      para.append(text);
      body.replaceChildren(para);
    }
  } catch (err) {
    body.replaceChildren(el("p", { class: "status error" }, err.message));
  }
}

// ---- search -----------------------------------------------------------------------

function searchFilters() {
  return {
    country: $("search-country").value, doc_type: $("search-doc_type").value,
    language: $("search-language").value, audience: $("search-audience").value,
  };
}

function hitItem(hit) {
  const meta = [hit.country, docType(hit.doc_type), hit.language && hit.language.toUpperCase()].filter(Boolean).join(" · ");
  const place = where({ title: hit.title, page: hit.page, section: hit.section, start_s: hit.start_s, speakers: hit.speakers });
  const snippet = hit.text.length > 420 ? hit.text.slice(0, 420) + "…" : hit.text;
  return el("li", { class: "card hit" },
    el("h3", {}, el("a", { href: fileHref(hit.doc_id, hit.page, hit.start_s), target: "_blank", rel: "noopener" }, hit.title)),
    el("p", { class: "meta" }, meta, place ? el("span", { class: "place" }, place) : null),
    el("p", { class: "snippet" }, snippet),
    el("button", { type: "button", class: "link", onclick: () => showContext(Object.assign({}, hit, { quote: "" })) }, "Show passage"));
}

async function runSearch(more) {
  const q = $("search-q").value.trim();
  if (!q) return;
  state.searchOffset = more ? state.searchOffset + PAGE : 0;
  await busy($("search-form"), "search-status", "Searching…", async () => {
    const p = params(Object.assign({ q, k: PAGE, offset: state.searchOffset }, searchFilters()));
    const body = await api("/search?" + p.toString());
    const list = $("search-results");
    if (!more) list.replaceChildren();
    body.hits.forEach((hit) => list.append(hitItem(hit)));
    const shown = list.children.length;
    setStatus("search-status", shown ? shown + " passages" : "No passages match. Try other words or fewer filters.", shown ? "" : "empty");
    $("search-more").hidden = body.hits.length < PAGE;
  });
}

// ---- ask ---------------------------------------------------------------------------

function answerParagraph(text, citations) {
  const byN = new Map(citations.map((c) => [c.n, c]));
  const para = el("p", { class: "answer-text" });
  const parts = text.split(/\[(\d+)\]/);
  parts.forEach((part, i) => {
    if (i % 2 === 0) { if (part) para.append(part); return; }
    const c = byN.get(Number(part));
    if (!c) { para.append("[" + part + "]"); return; }
    para.append(el("button", { type: "button", class: "cite", "aria-label": "Source " + c.n + ": " + c.title,
      onclick: () => showContext(c) }, String(c.n)));
  });
  return para;
}

function citationList(citations) {
  return el("ol", { class: "sources" }, citations.map((c) => el("li", { value: c.n },
    el("button", { type: "button", class: "link", onclick: () => showContext(c) }, c.title),
    el("span", { class: "meta" }, " " + [c.country, docType(c.doc_type), where(c)].filter(Boolean).join(" · ")))));
}

async function runAsk() {
  const question = $("ask-q").value.trim();
  if (!question) return;
  const filters = {};
  if ($("ask-country").value) filters.country = [$("ask-country").value];
  if ($("ask-language").value) filters.language = [$("ask-language").value];
  await busy($("ask-form"), "ask-status", "Reading the sources…", async () => {
    const answer = await api("/ask", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question, filters }) });
    const out = $("ask-result");
    out.replaceChildren(el("article", { class: "card answer" + (answer.evidence ? "" : " no-evidence") },
      el("h2", {}, answer.evidence ? "Answer" : "No evidence found"),
      answerParagraph(answer.answer, answer.citations),
      !answer.evidence && answer.refusal ? el("p", { class: "meta" }, "Why: " + answer.refusal + ".") : null,
      answer.citations.length ? el("h3", {}, "Sources") : null,
      answer.citations.length ? citationList(answer.citations) : null));
    setStatus("ask-status", answer.evidence ? "Click a number to see the quote in its context." : "", "");
  });
}

// ---- compare ------------------------------------------------------------------------

async function runCompare() {
  const question = $("compare-q").value.trim();
  if (!question) return;
  const countries = Array.from($("compare-countries").selectedOptions).map((o) => o.value);
  await busy($("compare-form"), "compare-status", "Comparing countries…", async () => {
    const body = await api("/compare", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question, countries: countries.length ? countries : null }) });
    const rows = body.rows.map((row) => el("tr", { class: row.evidence ? "" : "no-evidence" },
      el("th", { scope: "row" }, row.country),
      el("td", {}, row.evidence ? answerParagraph(row.answer, row.citations) : el("p", { class: "none" }, "No evidence in the material for this country.")),
      el("td", {}, row.citations.length ? citationList(row.citations) : "—")));
    $("compare-result").replaceChildren(rows.length
      ? el("table", { class: "compare" },
        el("caption", {}, body.question),
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Country"), el("th", { scope: "col" }, "Answer"), el("th", { scope: "col" }, "Sources"))),
        el("tbody", {}, rows))
      : el("p", { class: "status empty" }, "No country has material yet."));
    setStatus("compare-status", rows.length + " countries", "");
  });
}

// ---- speakers -----------------------------------------------------------------------

async function runSpeakers() {
  const topic = $("speakers-topic").value.trim();
  if (!topic) return;
  await busy($("speakers-form"), "speakers-status", "Looking for people…", async () => {
    const p = params({ topic, country: $("speakers-country").value, limit: 10 });
    const body = await api("/speakers?" + p.toString());
    const list = $("speakers-result");
    list.replaceChildren(...body.speakers.map((s) => el("li", { class: "card person" },
      el("div", { class: "person-head" },
        el("h3", {}, s.name),
        el("span", { class: "score", title: "Relevance, 1 = best" }, "score " + s.score.toFixed(2))),
      el("p", { class: "meta" }, [s.role, s.organisation, s.country].filter(Boolean).join(" · ") || "No details given"),
      el("ul", { class: "evidence" }, s.evidence.map((e) => el("li", {},
        el("p", { class: "meta" }, e.title, typeof e.start_s === "number" ? el("span", { class: "place" }, "minute " + clock(e.start_s)) : null),
        el("blockquote", {}, e.quote),
        el("button", { type: "button", class: "link", onclick: () => showContext(Object.assign({ speakers: [] }, e)) }, "Show in context"))))))); 
    setStatus("speakers-status", body.speakers.length ? body.speakers.length + " people" : "Nobody found for this topic.", body.speakers.length ? "" : "empty");
  });
}

// ---- documents ------------------------------------------------------------------------

async function loadDocuments(reset) {
  state.docsOffset = reset ? 0 : state.docsOffset + 50;
  const filters = { country: $("docs-country").value, doc_type: $("docs-doc_type").value, language: $("docs-language").value };
  setStatus("docs-status", "Loading documents…", "loading");
  try {
    const body = await api("/documents?" + params(Object.assign({ limit: 50, offset: state.docsOffset }, filters)).toString());
    for (const select of document.querySelectorAll("#doc-filters select")) fillSelect(select, body.facets[select.dataset.facet]);
    const list = $("docs-list");
    if (reset) list.replaceChildren();
    body.documents.forEach((d) => list.append(el("li", { class: "card doc" },
      el("h3", {}, el("a", { href: fileHref(d.doc_id), target: "_blank", rel: "noopener" }, d.title)),
      el("p", { class: "meta" }, [d.country, docType(d.doc_type), d.language && d.language.toUpperCase(), d.date,
        d.chunk_count + " passages"].filter(Boolean).join(" · ")))));
    setStatus("docs-status", body.total ? body.total + " documents" : "No documents match.", body.total ? "" : "empty");
    $("docs-more").hidden = state.docsOffset + body.documents.length >= body.total;
  } catch (err) {
    setStatus("docs-status", err.message, "error");
  }
}

async function runUpload() {
  const form = $("upload-form");
  const out = $("upload-result");
  const file = $("up-file").files[0];
  if (!file) return;
  state.key = $("up-key").value.trim();
  const data = new FormData();
  data.append("file", file, file.name);
  for (const name of ["title", "country", "language", "doc_type", "topics"]) {
    const value = $("up-" + name).value.trim();
    if (value) data.append(name, value);
  }
  out.replaceChildren(el("p", { class: "status loading" }, "Uploading and indexing…"));
  form.setAttribute("aria-busy", "true");
  try {
    const s = await api("/documents", { method: "POST", body: data, noKeyPrompt: true });
    out.replaceChildren(el("div", { class: "ok", role: "status" },
      el("p", {}, s.added ? "Added and indexed." : s.updated ? "Updated." : "Already indexed, nothing changed."),
      el("p", { class: "meta" }, s.chunks + " passages · " + s.format + " · " + s.bytes + " bytes · " + s.seconds + " s"),
      s.failed.length ? el("p", { class: "error" }, s.failed.map((f) => f.error).join("; ")) : null));
    loadDocuments(true);
    loadFacets();
  } catch (err) {
    out.replaceChildren(el("p", { class: "status error", role: "alert" }, err.message));
  } finally {
    form.removeAttribute("aria-busy");
  }
}

// ---- wiring ---------------------------------------------------------------------------

function onSubmit(id, handler) {
  $(id).addEventListener("submit", (event) => { event.preventDefault(); handler(); });
}

document.addEventListener("DOMContentLoaded", () => {
  setupTabs();
  onSubmit("search-form", () => runSearch(false));
  onSubmit("ask-form", runAsk);
  onSubmit("compare-form", runCompare);
  onSubmit("speakers-form", runSpeakers);
  onSubmit("upload-form", runUpload);
  $("search-more").addEventListener("click", () => runSearch(true));
  $("docs-more").addEventListener("click", () => loadDocuments(false));
  for (const select of document.querySelectorAll("#doc-filters select")) select.addEventListener("change", () => loadDocuments(true));
  $("context-close").addEventListener("click", () => $("context").close());
  $("context").addEventListener("click", (event) => { if (event.target === $("context")) $("context").close(); });
  $("access-key-save").addEventListener("click", () => {
    state.key = $("access-key").value.trim();
    $("keybar").hidden = true;
    loadFacets();
  });
  loadFacets();
});
