// harness view, shared pieces: the data loader (scripts calling HARNESS_VIEWER.put), element
// building (text only: no innerHTML anywhere), number formatting, links and the run index.
"use strict";

const VIEWER = window.HARNESS_VIEWER = {
  cache: new Map(), waiting: new Map(),
  put(name, value) {
    const w = this.waiting.get(name);
    if (w) { this.waiting.delete(name); w.resolve(value); }
  },
};
const KEEP = new Set(["data/index.js"]);

function load(name) {
  if (VIEWER.cache.has(name)) return Promise.resolve(VIEWER.cache.get(name));
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    VIEWER.waiting.set(name, { resolve: (v) => { if (KEEP.has(name) || name.startsWith("data/run/")) VIEWER.cache.set(name, v); s.remove(); resolve(v); } });
    s.onerror = () => { VIEWER.waiting.delete(name); s.remove(); reject(new Error("could not load " + name)); };
    s.src = name;
    document.body.appendChild(s);
  });
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") e.textContent = String(v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    e.appendChild(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}

function fmt(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number" && v !== 0 && Math.abs(v) < 1e-12) return "0";  // rounding noise, e.g. the SE of a constant difference
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : (Math.abs(v) >= 1000 || Math.abs(v) < 0.001 && v !== 0 ? v.toExponential(3) : v.toFixed(4).replace(/0+$/, "").replace(/\.$/, ""));
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}
const enc = encodeURIComponent;
const unknown = () => el("span", { class: "unknown", text: "unknown" });
const limitBadge = (run) => run.limited ? el("span", { class: "badge limit", title: "a limited run: only the first " + run.limit + " samples of each task", text: "limit " + run.limit }) : (run.limited === null ? el("span", { class: "badge limit", text: "limit unknown" }) : null);
const runHref = (key) => "#/run/" + enc(key);
const taskHref = (key, task) => runHref(key) + "/task/" + enc(task);
const sampleHref = (key, task, id, n) => taskHref(key, task) + "/sample/" + enc(id) + (n !== undefined ? "?n=" + n : "");
function crumbs(...parts) { return el("nav", { class: "crumbs" }, parts.map((p) => typeof p === "string" ? el("span", { text: p + " " }) : [p, " › "])); }

let INDEX = null;
async function index() {
  if (!INDEX) {
    INDEX = await load("data/index.js");
    document.getElementById("source").textContent = INDEX.source + " · " + INDEX.runs.length + " runs";
  }
  return INDEX;
}
async function runByKey(key) {
  const idx = await index();
  const i = idx.runs.findIndex((r) => r.key === key || r.run_id === key);
  if (i < 0) throw new Error("no run " + key + " in this folder");
  return load("data/run/" + i + ".js");
}

// ---- run ---------------------------------------------------------------------------------
function provenanceTable(prov) {
  return el("table", { class: "fields provenance" }, el("tbody", {}, prov.facts.map((f) =>
    el("tr", {}, el("th", { text: f.label }), el("td", {}, f.known ? fmt(f.value) : unknown(), f.note ? el("span", { class: "note", text: " (" + f.note + ")" }) : null)))));
}
function limitBanner(run) {
  if (run.limited) return el("p", { class: "limited", role: "note" }, el("strong", { text: "Limited run: " }), "only the first " + run.limit + " samples of each task were evaluated; its metrics are not comparable with a full run.");
  if (run.limited === null) return el("p", { class: "limited" }, "This results file does not say whether the run was limited.");
  return document.createTextNode("");
}
function metricCell(v, se) { return el("td", { class: "num" }, fmt(v), se !== null && se !== undefined ? el("span", { class: "se", text: "±" + fmt(se) }) : null); }

function label(task, metric) {
  const info = task.metric_info && task.metric_info[metric];
  return info && info.display_name ? info.display_name : metric;
}
