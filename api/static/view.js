// capacities-kb source viewer: a document opened at a cited span, the quote highlighted.
// Document text is only ever inserted as text (textContent, createTextNode). The one
// exception is the server-sanitised `html` of Markdown and HTML originals: it is parsed into
// an inert document with DOMParser (nothing runs or loads there), scrubbed again, and its
// nodes are adopted into the page, whose Content-Security-Policy forbids inline scripts.
"use strict";

const KEY_STORE = "kb-read-key";
const TRANSCRIPTS = ["vtt", "srt"];
const UNSAFE = "script,style,iframe,frame,frameset,object,embed,link,meta,base,form,img,svg,math,template,noscript";
const KEPT_ATTRIBUTES = ["href", "hreflang", "start", "colspan", "rowspan", "scope", "target", "rel"];

const params = new URLSearchParams(location.search);
const view = {
  id: docIdFromPath(),
  key: sessionStorage.getItem(KEY_STORE) || "",
  ranges: parseRanges(params.get("at")),
  words: queryWords(params.get("q")),
  mode: params.get("mode") === "text" ? "text" : "rendered",
  doc: null,
};

function docIdFromPath() {
  const match = /^\/documents\/([^/]+)\/view\/?$/.exec(location.pathname);
  return match ? decodeURIComponent(match[1]) : "";
}

// "120-180,400-420": document character spans, sorted and merged.
function parseRanges(value) {
  const ranges = [];
  for (const part of (value || "").split(",").slice(0, 50)) {
    const match = /^\s*(\d{1,9})\s*-\s*(\d{1,9})\s*$/.exec(part);
    if (match && Number(match[2]) > Number(match[1])) ranges.push([Number(match[1]), Number(match[2])]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else merged.push(r);
  }
  return merged;
}

function queryWords(q) {
  const words = (q || "").toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length >= 3);
  return Array.from(new Set(words)).slice(0, 20);
}

function setStatus(text, kind) {
  const node = $("view-status");
  node.textContent = text || "";
  node.className = "status" + (kind ? " " + kind : "");
}

// ---- loading ----------------------------------------------------------------------------

async function load() {
  if (!view.id) { setStatus("This address does not name a document.", "error"); return; }
  setStatus("Loading the document…", "loading");
  const headers = { Accept: "application/json" };
  if (view.key) headers["X-API-Key"] = view.key;
  let response;
  try {
    response = await fetch("/documents/" + encodeURIComponent(view.id) + "/content", { headers, credentials: "same-origin" });
  } catch (err) {
    setStatus("The server cannot be reached. Check your connection and try again.", "error");
    return;
  }
  let body = null;
  try { body = await response.json(); } catch (err) { body = null; }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : "The server answered " + response.status + ".";
    if (response.status === 401 || response.status === 403) {
      $("keybar").hidden = false;
      $("access-key").focus();
      setStatus(response.status === 401 ? "Reading documents on this server needs an access key: enter it above."
        : "This access key is not valid: enter another one above.", "error");
    } else {
      setStatus(response.status === 404 ? "This document cannot be shown: " + message + "." : message, "error");
    }
    return;
  }
  view.doc = body;
  showHeader();
  render();
}

function blocksIn(range) {
  return view.doc.blocks.filter((b) => b.span.start < range[1] && b.span.end > range[0]);
}

function showHeader() {
  const doc = view.doc;
  document.title = doc.title + " – CapaCITIES Knowledge Base";
  $("doc-title").textContent = doc.title;
  $("doc-meta").textContent = [countryName(doc.meta.country), docType(doc.meta.doc_type),
    doc.meta.language && doc.meta.language.toUpperCase(), doc.pages && (doc.format === "pptx" ? doc.pages + " slides" : doc.pages + " pages")]
    .filter(Boolean).join(" · ");
  const file = "/documents/" + encodeURIComponent(view.id) + "/file";
  const links = [el("a", { href: file, download: "" }, "Download the original")];
  const first = view.ranges.length ? blocksIn(view.ranges[0]).find((b) => b.page) : null;
  if (doc.format === "pdf" && first) {
    links.push(el("a", { href: file + "#page=" + first.page, target: "_blank", rel: "noopener" }, "Open the original at page " + first.page));
  }
  $("doc-links").replaceChildren(...links);
  $("changed").hidden = !doc.changed;
  $("modes").hidden = doc.html === null;
  $("doc").setAttribute("lang", doc.meta.language || "");
}

// ---- rendering ----------------------------------------------------------------------------

function render() {
  const box = $("doc");
  $("mode-note").hidden = true;
  setStatus("", "");
  let mode = view.doc.html === null ? "text" : view.mode;
  if (mode === "rendered") {
    box.className = "doc-body rendered";
    box.replaceChildren(...adoptSanitised(view.doc.html));
    if (view.ranges.length && !markQuote(box)) {
      mode = "text";
      $("mode-note").textContent = "The quote was not found in the formatted page, so the document is shown as text.";
      $("mode-note").hidden = false;
    }
  }
  if (mode === "text") {
    box.className = "doc-body text";
    box.replaceChildren(...textBlocks());
  }
  highlightWords(box, view.words);
  $("mode-rendered").setAttribute("aria-pressed", String(mode === "rendered"));
  $("mode-text").setAttribute("aria-pressed", String(mode === "text"));
  box.hidden = false;
  const mark = box.querySelector("mark.quote");
  $("jump").hidden = !mark;
  if (mark) mark.scrollIntoView({ block: "center" });
  else if (view.ranges.length) setStatus("The cited passage is not in this version of the document.", "empty");
}

function setMode(mode) {
  view.mode = mode;
  params.set("mode", mode);
  history.replaceState(null, "", location.pathname + "?" + params.toString());
  render();
}

// The server already sanitised this HTML; parsing it in an inert document and scrubbing it
// again means a sanitiser bug alone cannot put a script or an event handler in the page.
function adoptSanitised(html) {
  const parsed = new DOMParser().parseFromString(html, "text/html");
  for (const node of parsed.body.querySelectorAll(UNSAFE)) node.remove();
  for (const node of parsed.body.querySelectorAll("*")) {
    for (const attr of Array.from(node.attributes)) {
      if (!KEPT_ATTRIBUTES.includes(attr.name)) node.removeAttribute(attr.name);
    }
    const href = node.getAttribute("href");
    if (href !== null && !/^(https?:|mailto:)/i.test(href.trim())) node.removeAttribute("href");
  }
  return Array.from(parsed.body.childNodes).map((node) => document.adoptNode(node));  // copy: adopting empties the list
}

function textBlocks() {
  const doc = view.doc;
  if (TRANSCRIPTS.includes(doc.format)) return [el("div", { class: "cues" }, doc.blocks.map(cueRow))];
  if (doc.format !== "pdf" && doc.format !== "pptx") return doc.blocks.map((b) => blockNode(b, 1));
  const label = doc.format === "pptx" ? "Slide " : "Page ";
  const groups = [];
  for (const block of doc.blocks) {
    const last = groups[groups.length - 1];
    if (last && last.page === block.page) last.blocks.push(block);
    else groups.push({ page: block.page, blocks: [block] });
  }
  return groups.map((g) => el("section", { class: "page", "data-page": g.page },
    g.page ? el("h2", { class: "page-head" }, label + g.page) : null,
    g.blocks.map((b) => blockNode(b, 2))));
}

function blockNode(block, depth) {
  const text = withMarks(block);
  const attrs = { "data-start": block.span.start, "data-end": block.span.end };
  if (block.kind === "title") return el("h" + Math.min(6, (block.level || 1) + depth), attrs, text);
  if (block.kind === "list_item") return el("p", Object.assign({ class: "li" }, attrs), text);
  if (block.kind === "table") return el("div", Object.assign({ class: "table" }, attrs), text);
  return el("p", attrs, text);
}

function cueRow(block) {
  const hasTime = typeof block.start_s === "number";
  return el("div", { class: "cue", "data-start": block.span.start, "data-end": block.span.end },
    el("time", hasTime ? { datetime: "PT" + Math.floor(block.start_s) + "S" } : {}, hasTime ? clock(block.start_s) : ""),
    el("span", { class: "who" }, block.speaker || ""),
    el("p", {}, withMarks(block)));
}

// A block's text with the characters inside the cited spans wrapped in <mark class="quote">.
function withMarks(block) {
  const parts = [];
  let at = 0;
  for (const [start, end] of view.ranges) {
    const from = Math.max(start, block.span.start) - block.span.start;
    const to = Math.min(end, block.span.end) - block.span.start;
    if (to <= from) continue;
    if (from > at) parts.push(block.text.slice(at, from));
    parts.push(el("mark", { class: "quote" }, block.text.slice(from, to)));
    at = to;
  }
  if (at < block.text.length) parts.push(block.text.slice(at));
  return parts;
}

// ---- finding the quote in rendered HTML ---------------------------------------------------

const SPACE = /\s/;

// Every non-space character of the rendered text, with the text node and offset it came from,
// so that a quote matches whatever whitespace the HTML puts between words and blocks.
function textIndex(root) {
  const nodes = [];
  const owner = [];
  const offset = [];
  let flat = "";
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    nodes.push(node);
    const data = node.data;
    for (let i = 0; i < data.length; i++) {
      if (SPACE.test(data[i])) continue;
      flat += data[i];
      owner.push(nodes.length - 1);
      offset.push(i);
    }
  }
  return { nodes, owner, offset, flat };
}

function squeeze(text) { return text.replace(/\s+/g, ""); }

// What to look for: the cited part of each block (a table cell by cell, since the rendered
// table has no " | " between cells), and where in the text it should roughly be.
function quotePieces() {
  const pieces = [];
  for (const range of view.ranges) {
    for (const block of blocksIn(range)) {
      const from = Math.max(range[0], block.span.start) - block.span.start;
      const to = Math.min(range[1], block.span.end) - block.span.start;
      const cited = block.text.slice(from, to);
      const parts = block.kind === "table" ? cited.split(/\s*\|\s*|\n/) : [cited];
      for (const part of parts) if (squeeze(part)) pieces.push({ text: squeeze(part), at: range[0] });
    }
  }
  return pieces;
}

function charsBefore(position) {
  let count = 0;
  for (const block of view.doc.blocks) {
    if (block.span.start >= position) break;
    count += squeeze(block.text.slice(0, position - block.span.start)).length;
  }
  return count;
}

// Mark the cited text inside rendered HTML; true when at least one piece was found.
function markQuote(root) {
  const pieces = quotePieces();
  if (!pieces.length) return false;
  const index = textIndex(root);
  const found = [];
  let cursor = -1;
  for (const piece of pieces) {
    let hit = -1;
    if (cursor < 0) {  // the first piece: the copy nearest to where the span says it is
      const expected = charsBefore(piece.at);
      for (let i = index.flat.indexOf(piece.text); i >= 0; i = index.flat.indexOf(piece.text, i + 1)) {
        if (hit < 0 || Math.abs(i - expected) < Math.abs(hit - expected)) hit = i;
      }
    } else {
      hit = index.flat.indexOf(piece.text, cursor);
    }
    if (hit < 0) continue;
    found.push([hit, hit + piece.text.length]);
    cursor = hit + piece.text.length;
  }
  const byNode = new Map();
  for (const [start, end] of found) {
    for (let i = start; i < end; i++) {
      const n = index.owner[i];
      const spans = byNode.get(n) || [];
      const last = spans[spans.length - 1];
      if (last && last[2] === start) last[1] = index.offset[i] + 1;
      else spans.push([index.offset[i], index.offset[i] + 1, start]);
      byNode.set(n, spans);
    }
  }
  for (const [n, spans] of byNode) {
    spans.sort((a, b) => b[0] - a[0]);
    for (const [from, to] of spans) wrap(index.nodes[n], from, to, "quote");
  }
  return found.length > 0;
}

// Wrap characters [from, to) of a text node in <mark>; the node keeps the text before them.
function wrap(node, from, to, kind) {
  node.splitText(to);
  const middle = node.splitText(from);
  const mark = el("mark", { class: kind });
  middle.replaceWith(mark);
  mark.append(middle);
}

// Lightly mark the search words, outside the quote marks.
function highlightWords(root, words) {
  if (!words.length) return;
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp("(?<![\\p{L}\\p{N}])(?:" + escaped.join("|") + ")", "giu");
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement.closest("mark")) nodes.push(node);
  }
  for (const node of nodes) {
    const matches = Array.from(node.data.matchAll(pattern));
    for (const match of matches.reverse()) wrap(node, match.index, match.index + match[0].length, "q");
  }
}

// ---- wiring -------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("keybar").addEventListener("submit", (event) => {
    event.preventDefault();
    view.key = $("access-key").value.trim();
    sessionStorage.setItem(KEY_STORE, view.key);
    $("keybar").hidden = true;
    load();
  });
  $("mode-rendered").addEventListener("click", () => setMode("rendered"));
  $("mode-text").addEventListener("click", () => setMode("text"));
  $("jump-button").addEventListener("click", () => {
    const mark = $("doc").querySelector("mark.quote");
    if (mark) mark.scrollIntoView({ block: "center", behavior: "smooth" });
  });
  load();
});
