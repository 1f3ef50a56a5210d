// capacities-kb web page. Document text is only ever inserted as text (textContent,
// createTextNode); links are built from same-origin API paths and encoded ids only.
"use strict";

const state = { key: "", searchOffset: 0, docsOffset: 0, facets: {} };
const PAGE = 10;

function fileHref(docId, page, seconds) {
  let href = "/documents/" + encodeURIComponent(docId) + "/file";
  if (Number.isInteger(page) && page > 0) href += "#page=" + page;
  else if (typeof seconds === "number" && seconds >= 0) href += "#t=" + Math.floor(seconds);
  return href;
}

// The source viewer at the cited place: the API gives each hit, citation and clip its url.
function viewHref(item) {
  if (item.url) return item.url;
  return "/documents/" + encodeURIComponent(item.doc_id) + "/view";
}

// Query words in a text, as text nodes and <mark class="q"> elements (never HTML). Words of
// four or more letters match at the start of a word, so "cities" marks "cities" but no part
// of another word, and short function words ("how", "can") are left alone.
function highlighted(text, query) {
  const words = Array.from(new Set((query.match(/[\p{L}\p{N}]{4,}/gu) || []).map((w) => w.toLowerCase())));
  if (!words.length) return [text];
  const escaped = words.sort((a, b) => b.length - a.length).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp("((?<![\\p{L}\\p{N}])(?:" + escaped.join("|") + ")[\\p{L}\\p{N}]*)", "giu");
  return text.split(pattern).map((part, i) => (i % 2 ? el("mark", { class: "q" }, part) : part)).filter((p) => p !== "");
}

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
    tab.addEventListener("click", () => { showTab(tab); remember(); });
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
  if (facet === "country") return countryName(value);
  return value;
}

function fillSelect(select, counts) {
  const facet = select.dataset.facet;
  const current = Array.from(select.selectedOptions).map((o) => o.value);
  const first = select.multiple ? null : select.options[0];
  select.replaceChildren();
  if (first) select.append(first);
  const values = Object.keys(counts || {}).filter((v) => v && !(select.dataset.plain && v === "EU")).sort();
  for (const value of values) {
    const counted = select.dataset.counts || (!select.multiple && !select.dataset.plain);
    const label = facetLabel(facet, value) + (counted ? " (" + counts[value] + ")" : "");
    const option = el("option", { value }, label);
    option.selected = current.includes(value);
    select.append(option);
  }
}

// The compare picker: one checkbox chip per country with material.
function fillCountryChips(counts) {
  const box = $("compare-countries");
  const checked = new Set(checkedCountries());
  box.replaceChildren(...Object.keys(counts || {}).filter((c) => c && c !== "EU").sort()
    .map((code) => el("label", { class: "chip" },
      el("input", { type: "checkbox", name: "country", value: code, checked: checked.has(code) }),
      countryName(code))));
}

function checkedCountries() {
  return Array.from(document.querySelectorAll("#compare-countries input:checked")).map((i) => i.value);
}

async function loadFacets() {
  try {
    const body = await api("/documents?limit=1");
    state.facets = body.facets;
    for (const select of document.querySelectorAll("select[data-facet]")) {
      if (!select.dataset.counts) fillSelect(select, body.facets[select.dataset.facet]);
    }
    fillCountryChips(body.facets.country);
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
  const label = typeof ref.start_s === "number" ? "Open the transcript at minute " + clock(ref.start_s)
    : ref.page ? "Open the document at page " + ref.page : "Open the document at this passage";
  link.replaceChildren(el("a", { href: viewHref(ref), target: "_blank", rel: "noopener" }, label));
  if (ref.page) link.append(" · ", el("a", { href: fileHref(ref.doc_id, ref.page), target: "_blank", rel: "noopener" }, "original PDF"));
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
    about: $("search-about").value, country: $("search-country").value, doc_type: $("search-doc_type").value,
    language: $("search-language").value, audience: $("search-audience").value,
  };
}

function hitItem(hit, query) {
  const meta = [countryName(hit.country), docType(hit.doc_type), hit.language && hit.language.toUpperCase()].filter(Boolean).join(" · ");
  const place = where({ title: hit.title, page: hit.page, section: hit.section, start_s: hit.start_s, speakers: hit.speakers });
  const snippet = hit.text.length > 420 ? hit.text.slice(0, 420) + "…" : hit.text;
  return el("li", { class: "card hit" },
    el("h3", {}, el("a", { href: viewHref(hit) + "&q=" + encodeURIComponent(query), target: "_blank", rel: "noopener" }, hit.title)),
    el("p", { class: "meta" }, meta, place ? el("span", { class: "place" }, place) : null),
    el("p", { class: "snippet" }, highlighted(snippet, query)),
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
    body.hits.forEach((hit) => list.append(hitItem(hit, q)));
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
    el("span", { class: "meta" }, " " + [countryName(c.country), docType(c.doc_type), where(c)].filter(Boolean).join(" · ") + " · "),
    el("a", { class: "meta", href: viewHref(c), target: "_blank", rel: "noopener" }, "open"))));
}

async function runAsk() {
  const question = $("ask-q").value.trim();
  if (!question) return;
  const filters = {};
  if ($("ask-about").value) filters.about = [$("ask-about").value];
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
  const countries = checkedCountries();
  await busy($("compare-form"), "compare-status", "Comparing countries…", async () => {
    const body = await api("/compare", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question, countries: countries.length ? countries : null }) });
    const rows = body.rows.map((row) => el("tr", { class: row.evidence ? "" : "no-evidence" },
      el("th", { scope: "row" }, countryName(row.country)),
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
      el("p", { class: "meta" }, [s.role, s.organisation, countryName(s.country)].filter(Boolean).join(" · ") || "No details given"),
      el("ul", { class: "evidence" }, s.evidence.map((e) => el("li", {},
        el("p", { class: "meta" }, e.title, typeof e.start_s === "number" ? el("span", { class: "place" }, "minute " + clock(e.start_s)) : null),
        el("blockquote", {}, e.quote),
        el("button", { type: "button", class: "link", onclick: () => showContext(Object.assign({ speakers: [] }, e)) }, "Show in context"),
        " · ", el("a", { href: viewHref(e), target: "_blank", rel: "noopener" }, "Open the transcript")))))));
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
    body.documents.forEach((d) => list.append(docItem(d)));
    setStatus("docs-status", body.total ? body.total + " documents" : "No documents match.", body.total ? "" : "empty");
    $("docs-more").hidden = state.docsOffset + body.documents.length >= body.total;
  } catch (err) {
    setStatus("docs-status", err.message, "error");
  }
}

function docItem(d) {
  const item = el("li", { class: "card doc" },
    el("h3", {}, el("a", { href: viewHref(d), target: "_blank", rel: "noopener" }, d.title)),
    el("p", { class: "meta" }, [countryName(d.meta.country), docType(d.meta.doc_type), d.meta.language && d.meta.language.toUpperCase(),
      d.meta.date, d.chunk_count + " passages", d.source_path].filter(Boolean).join(" · ")));
  const actions = el("p", { class: "actions" });
  const ask = () => actions.replaceChildren(el("button", { type: "button", class: "link danger", onclick: confirm }, "Delete"));
  const confirm = () => actions.replaceChildren(
    el("span", {}, "Delete this document and its passages? "),
    el("button", { type: "button", class: "secondary danger", onclick: () => deleteDocument(d, item, actions) }, "Delete"),
    " ", el("button", { type: "button", class: "secondary", onclick: ask }, "Cancel"));
  ask();
  item.append(actions);
  return item;
}

async function deleteDocument(d, item, actions) {
  const key = $("up-key").value.trim() || state.key;
  if (!key) {
    actions.replaceChildren(el("span", { class: "error", role: "alert" }, "Enter the API key in “Add a document” to delete."));
    $("up-key").focus();
    return;
  }
  state.key = key;
  actions.replaceChildren(el("span", { class: "status loading" }, "Deleting…"));
  try {
    await api("/documents/" + encodeURIComponent(d.doc_id), { method: "DELETE", noKeyPrompt: true });
    item.replaceChildren(el("p", { class: "ok", role: "status" }, "Deleted “" + d.title + "”."));
    loadFacets();
  } catch (err) {
    actions.replaceChildren(el("span", { class: "error", role: "alert" }, err.message));
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

// ---- shareable addresses ----------------------------------------------------------------
// The address holds the tab, the query and the filters (?tab=search&q=...&country=SE), so a
// link reproduces what the sender saw; opening it runs the query.

const FIELDS = {
  search: { q: "search-q", about: "search-about", country: "search-country", doc_type: "search-doc_type", language: "search-language", audience: "search-audience" },
  ask: { q: "ask-q", about: "ask-about", language: "ask-language" },
  compare: { q: "compare-q" },
  speakers: { q: "speakers-topic", country: "speakers-country" },
  documents: { country: "docs-country", doc_type: "docs-doc_type", language: "docs-language" },
};

function currentTab() {
  const tab = document.querySelector("[role=tab][aria-selected=true]");
  return tab ? tab.id.replace("tab-", "") : "search";
}

function remember() {
  const tab = currentTab();
  const p = new URLSearchParams({ tab });
  for (const [name, id] of Object.entries(FIELDS[tab] || {})) if ($(id).value.trim()) p.set(name, $(id).value.trim());
  if (tab === "compare" && checkedCountries().length) p.set("countries", checkedCountries().join(","));
  history.replaceState(null, "", "?" + p.toString());
}

function setValue(id, value) {
  const node = $(id);
  if (node.tagName === "SELECT" && !Array.from(node.options).some((o) => o.value === value)) {
    node.append(el("option", { value }, node.dataset.facet === "country" ? countryName(value) : value));
  }
  node.value = value;
}

function restore() {
  const p = new URLSearchParams(location.search);
  const tab = p.get("tab");
  if (!tab || !FIELDS[tab]) return;
  for (const [name, id] of Object.entries(FIELDS[tab])) if (p.get(name)) setValue(id, p.get(name));
  if (tab === "compare") {
    const wanted = new Set((p.get("countries") || "").split(",").filter(Boolean));
    document.querySelectorAll("#compare-countries input").forEach((i) => { i.checked = wanted.has(i.value); });
  }
  showTab($("tab-" + tab));
  const runs = { search: () => runSearch(false), ask: runAsk, compare: runCompare, speakers: runSpeakers };
  if (runs[tab]) runs[tab]();
}

// ---- wiring ---------------------------------------------------------------------------

function onSubmit(id, handler) {
  $(id).addEventListener("submit", (event) => { event.preventDefault(); remember(); handler(); });
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
  for (const select of document.querySelectorAll("#doc-filters select")) {
    select.addEventListener("change", () => { remember(); loadDocuments(true); });
  }
  $("context-close").addEventListener("click", () => $("context").close());
  $("context").addEventListener("click", (event) => { if (event.target === $("context")) $("context").close(); });
  $("access-key-save").addEventListener("click", () => {
    state.key = $("access-key").value.trim();
    $("keybar").hidden = true;
    loadFacets();
  });
  loadFacets().then(restore);
});
