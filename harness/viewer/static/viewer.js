// harness view: runs -> tasks -> metrics -> samples, comparison of runs, provenance.
// Data arrives as scripts (data/*.js) calling HARNESS_VIEWER.put, so the page works from file://.
// Every string from a results file is set with textContent (el() in dom.js); no innerHTML anywhere.
// Loaded after dom.js and filter.js.
"use strict";

// ---- runs ------------------------------------------------------------------------------
async function pageRuns(app, query) {
  const idx = await index();
  const search = el("input", { type: "search", id: "runs-filter", placeholder: "filter runs by model, task or run id", "aria-label": "filter runs", value: query.get("q") || "" });
  const body = el("tbody");
  const chosen = new Set();
  const compareBtn = el("button", { type: "button", id: "compare", disabled: true, text: "Compare selected runs",
    onclick: () => { location.hash = "#/compare/" + [...chosen].map(enc).join("/"); } });
  const rows = idx.runs.map((r) => {
    const failed = r.tasks.reduce((n, t) => (t.n_failed === null ? n : n + t.n_failed), 0);
    const unknownFailed = r.tasks.some((t) => t.n_failed === null);
    const box = el("input", { type: "checkbox", "aria-label": "select run " + r.key, "data-key": r.key, onchange: (e) => {
      e.target.checked ? chosen.add(r.key) : chosen.delete(r.key); compareBtn.disabled = chosen.size < 2; } });
    const tr = el("tr", { "data-key": r.key },
      el("td", {}, box),
      el("td", {}, el("a", { href: runHref(r.key), text: r.run_id }), limitBadge(r)),
      el("td", { class: "nowrap", text: r.model }),
      el("td", { class: "nowrap", title: r.created, text: r.created.replace("T", " ").replace(/(:\d\d)(\.\d+)?(\+00:00|Z)$/, "$1 UTC") }),
      el("td", {}, r.tasks.map((t, i) => [i ? ", " : "", el("a", { href: taskHref(r.key, t.name), text: t.name }), t.error ? el("span", { class: "badge failed", text: "failed" }) : null])),
      el("td", { class: "num" }, unknownFailed && !failed ? unknown() : String(failed)),
      el("td", { class: "path", text: r.file }));
    tr.dataset.search = [r.run_id, r.model, r.file, ...r.tasks.map((t) => t.name)].join(" ").toLowerCase();
    return tr;
  });
  body.append(...rows);
  const apply = () => { const q = search.value.toLowerCase(); for (const tr of rows) tr.hidden = q && !tr.dataset.search.includes(q); };
  search.addEventListener("input", apply);
  apply();
  app.append(el("h1", { text: "Runs" }),
    el("p", { class: "note", text: "Open a run for its provenance and tasks, a task for its metrics and samples; tick two or more runs to compare them (the first ticked is the baseline)." }),
    el("div", { class: "pager" }, search, compareBtn),
    el("div", { class: "scroll" }, el("table", { id: "runs" },
      el("thead", {}, el("tr", {}, ["", "Run", "Model", "Created", "Tasks", "Failed samples", "Results file"].map((h) => el("th", { text: h })))), body)));
  if (idx.problems.length) {
    app.append(el("h2", { text: "Problems with results files" }), el("ul", {}, idx.problems.map((p) => el("li", {}, el("code", { text: p.file }), ": " + p.message))));
  }
}

async function pageRun(app, key) {
  const run = await runByKey(key);
  app.append(crumbs(el("a", { href: "#/", text: "runs" }), "run " + run.run_id),
    el("h1", {}, "Run " + run.run_id + " · " + run.model, limitBadge(run)), limitBanner(run),
    el("h2", { text: "Reproduce" }),
    run.provenance.command.known ? el("pre", { class: "command", text: run.provenance.command.value }) : el("p", {}, unknown()),
    el("p", { class: "note", text: run.provenance.command.note }),
    el("h2", { text: "Provenance" }), provenanceTable(run.provenance),
    el("h2", { text: "Tasks" }),
    el("div", { class: "scroll" }, el("table", { id: "tasks" },
      el("thead", {}, el("tr", {}, ["Task", "Benchmark", "Samples", "Failed", "Wall time", "Metrics"].map((h) => el("th", { text: h })))),
      el("tbody", {}, run.tasks.map((t) => el("tr", {},
        el("td", {}, el("a", { href: taskHref(run.key, t.name), text: t.name })),
        el("td", { text: t.benchmark }),
        el("td", { class: "num" }, t.n_samples === null ? unknown() : String(t.n_samples)),
        el("td", { class: "num" }, t.n_failed !== null ? String(t.n_failed) : t.failed_in_log !== null ?
          el("span", { title: "this results file does not record failed samples; its sample log has " + t.failed_in_log + " failed lines" }, unknown(), " (" + t.failed_in_log + " in the log)") : unknown()),
        el("td", { class: "num" }, t.wall_seconds === null ? unknown() : t.wall_seconds.toFixed(1) + " s"),
        el("td", {}, t.error ? el("span", { class: "error", text: "failed: " + t.error.trim().split("\n").pop() }) :
          Object.entries(t.metrics).slice(0, 4).map(([m, v], i) => [i ? " · " : "", label(t, m) + " " + fmt(v)]),
          Object.keys(t.metrics).length > 4 ? el("span", { class: "note", text: " (+" + (Object.keys(t.metrics).length - 4) + " more)" }) : null)))))));
}
async function pageTask(app, key, taskName, query) {
  const run = await runByKey(key);
  const task = run.tasks.find((t) => t.name === taskName);
  if (!task) throw new Error("run " + key + " has no task " + taskName);
  const i = run.i;
  app.append(crumbs(el("a", { href: "#/", text: "runs" }), el("a", { href: runHref(run.key), text: "run " + run.run_id }), "task " + task.name),
    el("h1", {}, task.name, limitBadge(run)), limitBanner(run),
    el("p", { class: "note", text: [task.benchmark, task.plugin && "plugin " + task.plugin, task.description].filter(Boolean).join(" · ") }));
  if (task.error) app.append(el("h2", { text: "This task failed" }), el("pre", { class: "error", text: task.error }));
  const metricNames = Object.keys(task.metrics);
  if (metricNames.length) {
    app.append(el("h2", { text: "Metrics" }), el("table", { id: "metrics" },
      el("thead", {}, el("tr", {}, ["Metric", "Name", "Value", "Direction"].map((h) => el("th", { text: h })))),
      el("tbody", {}, metricNames.map((m) => {
        const info = (task.metric_info || {})[m] || {};
        return el("tr", {}, el("td", { text: label(task, m) }), el("td", {}, el("code", { text: m })), metricCell(task.metrics[m], task.stderr[m]),
          el("td", { text: info.higher_is_better === true ? "↑ higher is better" : info.higher_is_better === false ? "↓ lower is better" : "" }));
      }))));
  }
  const failedIds = Object.entries(task.failed_samples || {});
  if (failedIds.length) app.append(el("h2", { text: "Failed samples (" + task.n_failed + ")" }), el("ul", {}, failedIds.map(([id, err]) => el("li", {}, el("code", { text: id }), ": " + err))));
  app.append(el("h2", { text: "Samples" }));
  if (!task.samples_file) { app.append(el("p", { class: "note", text: "No sample log for this task (the run did not use --log-samples, or the log is missing)." })); return; }
  app.append(el("p", { class: "note", text: "Log " + task.samples_file + (task.samples_found_by === "file name" ? " (found by its name: this older results file does not name its log)" : "") + (task.samples_bytes !== null ? " · " + (task.samples_bytes >= 1e6 ? (task.samples_bytes / 1e6).toFixed(1) + " MB" : Math.ceil(task.samples_bytes / 1e3) + " kB") + ", read one page at a time" : "") }));
  const first = await load("data/s/" + i + "/" + task.index + "/0.js");
  if (!first.n_pages) { app.append(el("p", { class: "note", text: "The sample log is empty." })); return; }
  const binary = binaryMetrics(first.records);
  const q = el("input", { type: "search", name: "q", value: query.get("q") || "", "aria-label": "search samples",
    placeholder: "text, or key=value / key>number (e.g. method=das layer=middle iia>0.5)" });
  const outcome = el("select", { name: "outcome", "aria-label": "outcome" }, ["any", "correct", "incorrect", "failed"].map((o) => el("option", { value: o, text: o })));
  outcome.value = query.get("outcome") || "any";
  const metric = el("select", { name: "metric", "aria-label": "correct by metric" }, binary.map((m) => el("option", { value: m, text: m })));
  if (query.get("metric")) metric.value = query.get("metric");
  const form = el("form", { class: "filter", id: "filter", onsubmit: (e) => {
    e.preventDefault();
    const p = new URLSearchParams({ q: q.value, outcome: outcome.value, metric: metric.value });
    location.hash = taskHref(run.key, task.name) + "?" + p.toString();
  } }, q, el("label", {}, "outcome ", outcome), binary.length ? el("label", {}, "by ", metric) : null, el("button", { type: "submit", text: "Filter" }));
  const status = el("p", { class: "status", id: "sample-status" });
  const list = el("div", { id: "samples" });
  const pager = el("div", { class: "pager" });
  app.append(form, status, list, pager);
  const terms = parseQuery(q.value);
  const filtering = terms.length > 0 || outcome.value !== "any";
  const view = Math.max(0, parseInt(query.get("page") || "0", 10) || 0);
  const go = (p) => { const qs = new URLSearchParams(query); qs.set("page", p); location.hash = taskHref(run.key, task.name) + "?" + qs.toString(); };
  if (!filtering) {
    const page = view === 0 ? first : await load("data/s/" + i + "/" + task.index + "/" + Math.min(view, first.n_pages - 1) + ".js");
    status.textContent = first.n_lines + " samples · page " + (page.page + 1) + " of " + first.n_pages;
    list.append(sampleTable(run, task, page.records, binary));
    pager.append(el("button", { type: "button", disabled: page.page === 0, onclick: () => go(page.page - 1), text: "‹ previous" }),
      el("button", { type: "button", disabled: page.page + 1 >= first.n_pages, onclick: () => go(page.page + 1), text: "next ›" }));
    return;
  }
  const found = [];  // summaries of the matches only: pages are read one at a time and let go
  for (let p = 0; p < first.n_pages; p++) {
    const page = p === 0 ? first : await load("data/s/" + i + "/" + task.index + "/" + p + ".js");
    for (const r of page.records) if (matches(r, terms, outcome.value, metric.value)) found.push({ n: r.n, id: r.id, values: r.values, error: r.error, problem: r.problem });
    status.textContent = "scanning: page " + (p + 1) + " of " + first.n_pages + ", " + found.length + " matches so far";
  }
  const per = 25, n = Math.ceil(found.length / per);
  status.textContent = found.length + " of " + first.n_lines + " samples match" + (n > 1 ? " · page " + (view + 1) + " of " + n : "");
  status.dataset.matches = String(found.length);
  list.append(sampleTable(run, task, found.slice(view * per, view * per + per), binary));
  pager.append(el("button", { type: "button", disabled: view === 0, onclick: () => go(view - 1), text: "‹ previous" }),
    el("button", { type: "button", disabled: view + 1 >= n, onclick: () => go(view + 1), text: "next ›" }));
}

function sampleTable(run, task, rows, binary) {
  const cols = [...new Set([...binary, ...rows.flatMap((r) => Object.keys(r.values))])].slice(0, 8);
  return el("div", { class: "scroll" }, el("table", { class: "samples" },
    el("thead", {}, el("tr", {}, el("th", { text: "Sample" }), el("th", { text: "Status" }), cols.map((c) => el("th", { text: c })))),
    el("tbody", {}, rows.map((r) => el("tr", { "data-id": r.id },
      el("td", {}, el("a", { href: sampleHref(run.key, task.name, r.id, r.n), text: r.id })),
      el("td", {}, r.problem ? el("span", { class: "badge failed", text: r.problem }) : r.error ? el("span", { class: "badge failed", title: r.error, text: "failed" }) : el("span", { class: "badge ok", text: "ok" })),
      cols.map((c) => el("td", { class: typeof r.values[c] === "number" ? "num" : "", text: fmt(r.values[c]) })))))));
}

// ---- sample ------------------------------------------------------------------------------
function renderBlock(b) {
  const box = el("section", { class: "block block-" + b.kind }, el("h3", { text: b.title }));
  if (b.kind === "fields") box.append(el("dl", { class: "grid" }, b.items.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: fmt(v) })))));
  else if (b.kind === "text") box.append(el("pre", { text: b.text }));
  else if (b.kind === "table") {
    const hl = new Set(b.highlight || []);
    box.append(el("div", { class: "scroll" }, el("table", {}, el("thead", {}, el("tr", {}, b.columns.map((c) => el("th", { text: c })))),
      el("tbody", {}, b.rows.map((row, i) => el("tr", { class: hl.has(i) ? "hl" : null }, row.map((v) => el("td", { class: typeof v === "number" ? "num" : "", text: fmt(v) }))))))));
  } else box.append(el("pre", { text: JSON.stringify(b) }));
  return box;
}

async function pageSample(app, key, taskName, id, query) {
  const run = await runByKey(key);
  const task = run.tasks.find((t) => t.name === taskName);
  if (!task || !task.samples_file) throw new Error("no sample log for task " + taskName);
  const where = run.i + "/" + task.index;
  let n = parseInt(query.get("n") || "", 10), rec = null;
  if (!Number.isNaN(n)) rec = await load("data/r/" + where + "/" + n + ".js").catch(() => null);
  if (!rec || rec.id !== id) {  // no hint, or a stale one (the log changed): look the id up
    n = (await load("data/ids/" + where + ".js")).ids.indexOf(id);
    rec = n < 0 ? null : await load("data/r/" + where + "/" + n + ".js");
  }
  app.append(crumbs(el("a", { href: "#/", text: "runs" }), el("a", { href: runHref(run.key), text: "run " + run.run_id }), el("a", { href: taskHref(run.key, task.name), text: "task " + task.name }), "sample"),
    el("h1", {}, "Sample " + id, limitBadge(run)));
  if (!rec) { app.append(el("p", { class: "error", text: "No sample " + id + " in this log." })); return; }
  app.append(el("p", { class: "note" }, "line " + rec.line + " of " + task.samples_file + " · ",
    el("a", { href: taskHref(run.key, task.name) + "?page=" + rec.page, text: "its page of samples" })));
  app.append(el("div", { id: "sample-view" }, rec.blocks.map(renderBlock)));
  app.append(el("details", { class: "raw" }, el("summary", { text: "Raw record" }), el("pre", { text: JSON.stringify(rec.raw, null, 2) })));
}

// ---- compare -----------------------------------------------------------------------------
async function pageCompare(app, keys) {
  const idx = await index();
  const pos = keys.map((k) => idx.runs.findIndex((r) => r.key === k || r.run_id === k));
  if (keys.length < 2 || pos.some((p) => p < 0)) throw new Error("compare needs two or more runs of this folder");
  const runs = pos.map((p) => idx.runs[p]);
  app.append(crumbs(el("a", { href: "#/", text: "runs" }), "compare"), el("h1", { text: "Comparing " + runs.length + " runs" }),
    el("table", { class: "fields" }, el("tbody", {}, runs.map((r, n) => el("tr", {}, el("th", { text: n === 0 ? "baseline" : "run " + (n + 1) }),
      el("td", {}, el("a", { href: runHref(r.key), text: r.run_id }), " · " + r.model + " · " + r.created, limitBadge(r)))))));
  if (runs.length > 2) app.append(allRunsTable(runs));
  for (let n = 1; n < runs.length; n++) {
    const pair = [pos[0], pos[n]];
    if (idx.compare_pairs && !idx.compare_pairs.some(([a, b]) => a === pair[0] && b === pair[1])) {
      app.append(el("p", { class: "note", text: "This static bundle holds comparisons only for runs that share a task; " + runs[n].run_id + " shares none with the baseline." }));
      continue;
    }
    const c = await load("data/compare/" + pair[0] + "-" + pair[1] + ".js");
    app.append(el("h2", { text: "Baseline " + runs[0].run_id + " vs " + runs[n].run_id }));
    if (c.config_differences.length) {
      app.append(el("div", { class: "warning config-warning", role: "alert" },
        el("strong", { text: "⚠ These runs' configurations differ in " + c.config_differences.length + " field" + (c.config_differences.length > 1 ? "s" : "") + ": differences below may come from the setup, not the method." }),
        el("table", {}, el("thead", {}, el("tr", {}, ["Field", runs[0].run_id, runs[n].run_id].map((h) => el("th", { text: h })))),
          el("tbody", {}, c.config_differences.map((d) => el("tr", { "data-field": d.field }, el("td", { text: d.field }),
            el("td", {}, d.a === null ? unknown() : fmt(d.a)), el("td", {}, d.b === null ? unknown() : fmt(d.b))))))));
    } else app.append(el("p", { class: "note same-config", text: "Same effective configuration on every compared field." }));
    if (!c.tasks.length) app.append(el("p", { class: "note", text: "No task in common." }));
    for (const t of c.tasks) {
      app.append(el("h3", { text: "Task " + t.name }),
        el("table", { class: "compare-metrics" }, el("thead", {}, el("tr", {}, ["Metric", runs[0].run_id, runs[n].run_id, "difference"].map((h) => el("th", { text: h })))),
          el("tbody", {}, t.metrics.map((m) => el("tr", {}, el("td", { text: m.metric }), metricCell(m.a, m.se_a), metricCell(m.b, m.se_b),
            el("td", { class: "num", text: m.a !== null && m.b !== null ? fmt(m.b - m.a) : "—" }))))));
      if (!t.logged[0] || !t.logged[1]) { app.append(el("p", { class: "note", text: "No paired statistics: a run has no sample log for this task." })); continue; }
      app.append(el("p", { class: "note", text: t.n_matched + " samples match by id (" + t.n_a + " and " + t.n_b + " logged). Paired difference = " + runs[n].run_id + " − baseline, ± its standard error." }));
      if (t.paired.length) app.append(el("div", { class: "scroll" }, el("table", { class: "paired" },
        el("thead", {}, el("tr", {}, ["Per-sample value", "n", "baseline mean", "other mean", "paired difference"].map((h) => el("th", { text: h })))),
        el("tbody", {}, t.paired.map((p) => el("tr", {}, el("td", { text: p.metric }), el("td", { class: "num", text: p.n }), el("td", { class: "num", text: fmt(p.mean_a) }),
          el("td", { class: "num", text: fmt(p.mean_b) }), metricCell(p.diff, p.stderr)))))));
      app.append(el("p", { class: "disagreements-count", text: t.n_disagreements + " samples disagree on a correct/incorrect value" + (t.disagreements.length < t.n_disagreements ? " (first " + t.disagreements.length + " listed)" : "") }));
      if (t.disagreements.length) app.append(el("table", { class: "disagreements" },
        el("thead", {}, el("tr", {}, ["Sample", "Values (baseline → other)"].map((h) => el("th", { text: h })))),
        el("tbody", {}, t.disagreements.map((d) => el("tr", {},
          el("td", {}, el("a", { href: sampleHref(runs[0].key, t.name, d.id), text: d.id }), " ", el("a", { href: sampleHref(runs[n].key, t.name, d.id), text: "(other)" })),
          el("td", { text: Object.entries(d.metrics).map(([m, [a, b]]) => m + ": " + fmt(a) + " → " + fmt(b)).join(" · ") }))))));
    }
    if (c.only_a.length || c.only_b.length) app.append(el("p", { class: "note", text: "Only in the baseline: " + (c.only_a.join(", ") || "none") + ". Only in the other: " + (c.only_b.join(", ") || "none") + "." }));
  }
}

function allRunsTable(runs) {
  // every task any of the runs ran, each metric side by side; the pairs below add paired statistics
  const names = [...new Set(runs.flatMap((r) => r.tasks.map((t) => t.name)))];
  const body = el("tbody");
  for (const name of names) {
    const tasks = runs.map((r) => r.tasks.find((t) => t.name === name));
    const metrics = [...new Set(tasks.flatMap((t) => (t ? Object.keys(t.metrics) : [])))];
    for (const m of metrics) body.append(el("tr", {}, el("td", { text: name }), el("td", { text: m }),
      tasks.map((t) => (t && m in t.metrics ? metricCell(t.metrics[m], t.stderr[m]) : el("td", { class: "num", text: "—" })))));
  }
  return el("div", { class: "scroll" }, el("h2", { text: "All runs side by side" }),
    el("table", { class: "all-runs" }, el("thead", {}, el("tr", {}, ["Task", "Metric", ...runs.map((r) => r.run_id)].map((h) => el("th", { text: h })))), body));
}

// ---- routing -----------------------------------------------------------------------------
async function route() {
  const app = document.getElementById("app");
  const [path, qs] = location.hash.replace(/^#/, "").split("?");
  const query = new URLSearchParams(qs || "");
  const parts = (path || "/").split("/").filter(Boolean).map(decodeURIComponent);
  const fresh = el("main", { id: "app" });
  fresh.append(el("p", { class: "status", text: "Loading…" }));
  app.replaceWith(fresh);
  const out = el("div", { id: "page", "data-page": parts[0] || "runs" });
  try {
    if (parts[0] === "run" && parts[2] === "task" && parts[4] === "sample") await pageSample(out, parts[1], parts[3], parts[5], query);
    else if (parts[0] === "run" && parts[2] === "task") await pageTask(out, parts[1], parts[3], query);
    else if (parts[0] === "run") await pageRun(out, parts[1]);
    else if (parts[0] === "compare") await pageCompare(out, parts.slice(1));
    else await pageRuns(out, query);
  } catch (err) {
    out.append(el("p", { class: "error", text: "Could not show this page: " + err.message }));
  }
  if (document.getElementById("app") === fresh) { fresh.replaceChildren(out); document.body.dataset.ready = location.hash || "#/"; }
}
window.addEventListener("hashchange", route);
route();
