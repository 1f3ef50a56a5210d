// Helpers shared by the search page (app.js) and the source viewer (view.js): loaded first.
// Text is only ever inserted as text; links are same-origin absolute paths only.
"use strict";

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

function clock(seconds) {
  if (typeof seconds !== "number") return "";
  const s = Math.max(0, Math.floor(seconds));
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? Math.floor(s / 3600) + ":" + mm + ":" + ss : Math.floor(s / 60) + ":" + ss;
}

function docType(value) { return DOC_TYPES[value] || value || ""; }

const REGIONS = typeof Intl.DisplayNames === "function" ? new Intl.DisplayNames(["en"], { type: "region" }) : null;

// "Greece (GR)": the name the browser knows for an ISO 3166 code, with the code.
function countryName(code) {
  if (!code) return "";
  let name = null;
  try { name = REGIONS ? REGIONS.of(code) : null; } catch (err) { name = null; }
  return name && name !== code ? name + " (" + code + ")" : code;
}
