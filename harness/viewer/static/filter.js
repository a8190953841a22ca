// harness view: the sample filter language, run in the browser over pages of samples.
// Tokens: key=value, key!=value, key<n, key<=n, key>n, key>=n (keys from values, then the document),
// and any other word (or "quoted phrase") searched in the whole record; "outcome" is correct/incorrect by a 0/1 metric, or failed.
"use strict";

function parseQuery(q) {
  const tokens = (q.match(/"[^"]*"|\S+/g) || []).map((t) => t.replace(/^"|"$/g, ""));
  return tokens.map((tok) => {
    let end = -1;
    for (let i = tok.length - 1; i > 0; i--) if ("=<>!".includes(tok[i])) { end = i; break; }
    if (end > 0 && end < tok.length - 1) {
      let start = end;
      while (start > 0 && "=<>!".includes(tok[start - 1])) start--;
      const op = tok.slice(start, end + 1);
      if (start > 0 && ["=", "!=", "<", ">", "<=", ">="].includes(op)) return { key: tok.slice(0, start), op, value: tok.slice(end + 1) };
    }
    return { text: tok.toLowerCase() };
  });
}
function fieldOf(rec, key) {
  if (key in rec.values) return rec.values[key];
  if (rec.doc && key in rec.doc) return rec.doc[key];
  if (key === "id") return rec.id;
  return undefined;
}
function test(v, op, want) {
  if (v === undefined) return false;
  const n = Number(want), x = typeof v === "boolean" ? Number(v) : v;
  const numeric = typeof x === "number" && want.trim() !== "" && !Number.isNaN(n);
  const a = numeric ? x : String(v).toLowerCase(), b = numeric ? n : want.toLowerCase();
  return { "=": a === b, "!=": a !== b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b }[op];
}
function matches(rec, terms, outcome, metric) {
  if (outcome === "failed" && !(rec.error || rec.problem)) return false;
  if (outcome === "correct" || outcome === "incorrect") {
    const v = rec.values[metric];
    if (v === undefined || v === null) return false;
    if ((Number(v) === 1) !== (outcome === "correct")) return false;
  }
  let text = null;
  for (const t of terms) {
    if (t.text !== undefined) {
      if (text === null) text = (rec.id + " " + JSON.stringify(rec.raw)).toLowerCase();
      if (!text.includes(t.text)) return false;
    } else if (!test(fieldOf(rec, t.key), t.op, t.value)) return false;
  }
  return true;
}
function binaryMetrics(records) {
  const keys = new Set(records.flatMap((r) => Object.keys(r.values)));
  return [...keys].filter((k) => records.some((r) => r.values[k] !== undefined && r.values[k] !== null) &&
    records.every((r) => r.values[k] === undefined || r.values[k] === null || [0, 1, true, false].includes(r.values[k])));
}
