"""The page's inline style sheet and sorting script (kept in Python so they ship with the package).

The script sorts a table when a column header's button is clicked: numbers best first on the
first click (by the column's ``data-hib``), then the other way; text A→Z first. Missing values
stay last either way, and equal values keep their current order.
"""

STYLE = """
:root { --ink: #1d2330; --muted: #5d6677; --line: #d9dee8; --head: #f3f5f9; --best: #dff3e4; --accent: #2458c6; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: #fff; }
header { padding: 20px 28px 8px; border-bottom: 1px solid var(--line); background: #fafbfd; }
h1 { margin: 0 0 6px; font-size: 24px; }
h2 { margin: 0 0 4px; font-size: 19px; }
main { padding: 8px 28px 40px; }
section { margin: 22px 0 30px; }
.meta, .about { color: var(--muted); margin: 4px 0 10px; max-width: 70em; }
nav a { display: inline-block; margin: 2px 10px 6px 0; color: var(--accent); text-decoration: none; font-weight: 600; }
nav a.warn { color: #b3261e; }
.tag { display: inline-block; padding: 0 7px; margin-left: 4px; border-radius: 9px; background: var(--head); font-size: 12px; }
.note { color: #8a5a00; margin: 4px 0; }
.scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; width: fit-content; max-width: 100%; }
table.board { border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.board th, table.board td { padding: 6px 12px; border-bottom: 1px solid var(--line); white-space: nowrap; }
table.board thead th { background: var(--head); vertical-align: bottom; padding: 0; }
table.board thead th button { all: unset; cursor: pointer; display: block; padding: 7px 22px 7px 12px; position: relative; text-align: right; }
table.board thead th.model button { text-align: left; }
table.board thead th button:focus-visible { outline: 2px solid var(--accent); }
table.board thead th:hover { background: #e8ecf4; }
table.board thead th .task { display: block; font-weight: 400; font-size: 11.5px; color: var(--muted); }
table.board thead th .metric { display: block; font-weight: 650; }
table.board thead th .dir { color: var(--accent); }
table.board thead th[aria-sort="ascending"] button::after { content: "\\25B2"; position: absolute; right: 6px; bottom: 8px; font-size: 10px; color: var(--accent); }
table.board thead th[aria-sort="descending"] button::after { content: "\\25BC"; position: absolute; right: 6px; bottom: 8px; font-size: 10px; color: var(--accent); }
table.board tbody th.model { text-align: left; font-weight: 600; position: sticky; left: 0; background: #fff; max-width: 28em; overflow: hidden; text-overflow: ellipsis; }
table.board thead th.model { position: sticky; left: 0; z-index: 1; }
table.board td { text-align: right; }
table.board td.best { background: var(--best); font-weight: 650; }
table.board td.missing { color: #a3aab8; }
table.board tbody tr:hover td, table.board tbody tr:hover th { background: #f6f8fc; }
table.board tbody tr:hover td.best { background: #cdebd6; }
.se { color: var(--muted); font-size: 11.5px; font-weight: 400; margin-left: 4px; }
table.board td a { color: inherit; text-decoration: none; border-bottom: 1px dotted var(--muted); }
.limit { display: inline-block; margin-left: 4px; padding: 0 4px; border-radius: 6px; font-size: 11px; font-weight: 600; color: #8a5a00; background: #fff1cc; border: 1px solid #e9c46a; }
details.more { margin: 10px 0 0; }
details.more summary { cursor: pointer; color: var(--accent); font-weight: 600; margin-bottom: 6px; }
figure { margin: 18px 0 8px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 13px; max-width: 70em; }
ul.notes, ul.problems { color: var(--muted); font-size: 13px; }
ul.problems { color: #8c1d18; }
code { font-size: 12.5px; background: var(--head); padding: 0 4px; border-radius: 3px; }
"""

SCRIPT = """
(function () {
  "use strict";
  function sortKey(cell, type) {
    var raw = cell ? cell.getAttribute("data-value") : null;
    if (raw === null || raw === "") return null;
    if (type === "number") { var n = parseFloat(raw); return isNaN(n) ? null : n; }
    return raw.toLowerCase();
  }
  function sortBy(th) {
    var table = th.closest("table");
    var heads = Array.prototype.slice.call(th.parentNode.children);
    var col = heads.indexOf(th);
    var type = th.getAttribute("data-type");
    var first = type === "number" && th.getAttribute("data-hib") === "0" ? "ascending"
      : type === "number" ? "descending" : "ascending";
    var other = first === "ascending" ? "descending" : "ascending";
    var dir = th.getAttribute("aria-sort") === first ? other : first;
    heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var sign = dir === "ascending" ? 1 : -1;
    var rows = Array.prototype.slice.call(body.rows).map(function (row, i) {
      return { row: row, i: i, key: sortKey(row.cells[col], type) };
    });
    rows.sort(function (a, b) {
      if (a.key === null || b.key === null) {
        return a.key === b.key ? a.i - b.i : (a.key === null ? 1 : -1);
      }
      if (a.key < b.key) return -sign;
      if (a.key > b.key) return sign;
      return a.i - b.i;
    });
    rows.forEach(function (r) { body.appendChild(r.row); });
  }
  document.querySelectorAll("table.board thead th").forEach(function (th) {
    var button = th.querySelector("button");
    if (button) button.addEventListener("click", function () { sortBy(th); });
  });
})();
"""
