"""The viewer's data side: paging, provenance, comparison statistics, the committed results,
the CLI's errors and the server's refusals (over real HTTP)."""

from __future__ import annotations

import http.client
import json
import math
import statistics
from pathlib import Path

import pytest
from testutil import REPO, assert_user_error, run_cli
from vw_fixtures import EVIL, N_SAMPLES, TASK, Server

from harness.pluginmanager import PluginManager
from harness.viewer.catalog import scan
from harness.viewer.compare import compare
from harness.viewer.samples import PAGE_RECORDS, LineIndex, SampleStore, page_payload
from harness.viewer.site import Site, script

BUILTIN_VIEWS = {  # benchmark -> a block title only its plugin's view shows
    "causalgym": "Cell", "ravel": "Cell", "mquake": "Case", "llm_usage": "α̂ vs α (95% bootstrap interval)",
    "activation_decoding_truthfulqa_mc": "Question", "activation_decoding_truthfulqa_binary": "Question",
    "activation_decoding_openqa": "Question",
}


def test_pages_hold_at_most_a_page_of_records_and_bytes(tmp_path: Path):
    log = tmp_path / "samples_x_1.jsonl"
    big = "y" * 200_000
    with log.open("w") as fh:
        for i in range(PAGE_RECORDS + 5):
            fh.write(json.dumps({"sample_id": str(i), "values": {}, "log": {"big": big if i < 6 else ""}}) + "\n")
    index = LineIndex.build(log)
    sizes = [n for _, n in index.pages]
    assert sum(sizes) == PAGE_RECORDS + 5 and index.n_records == PAGE_RECORDS + 5
    assert index.ids == [str(i) for i in range(PAGE_RECORDS + 5)]
    assert sizes[0] == 2  # 200 kB records: the 512 kB byte cap ends the page, not the record count
    assert max(sizes) <= PAGE_RECORDS
    ids = [rec["sample_id"] for p in range(len(index.pages)) for _, rec, _ in index.read_page(p)]
    assert ids == [str(i) for i in range(PAGE_RECORDS + 5)]


def test_a_gzipped_log_reads_like_the_plain_one(tmp_path: Path):
    """Committed logs over ~10 MB are gzipped; the viewer (and the reports) read them in place,
    also when the results file still names the uncompressed file."""
    import gzip

    from harness.textio import compressed_twin, read_log_lines

    log = tmp_path / "samples_x_1.jsonl"
    log.write_text("".join(json.dumps({"sample_id": str(i), "values": {"v": i}, "log": {"t": "é" * i}}) + "\n"
                           for i in range(PAGE_RECORDS + 3)), encoding="utf-8")
    gz = tmp_path / "samples_y_1.jsonl.gz"
    gz.write_bytes(gzip.compress(log.read_bytes()))
    plain, packed = LineIndex.build(log), LineIndex.build(gz)
    assert packed.ids == plain.ids and packed.pages == plain.pages
    for p in range(len(plain.pages)):
        assert list(packed.read_page(p)) == list(plain.read_page(p))
    assert read_log_lines(gz) == read_log_lines(log)
    named = tmp_path / "samples_y_1.jsonl"
    assert compressed_twin(named) == gz and compressed_twin(log) == log and compressed_twin(tmp_path / "none.jsonl") is None


def test_provenance_of_new_and_old_files(runs):
    catalog = scan(runs.root)
    assert not catalog.problems
    b = catalog.run(runs.b)
    facts = {f.label: f.value for f in b.provenance.facts}
    assert b.provenance.limited is True and "40 samples per task (a limited run)" in facts["limit"]
    assert "--limit 40" in b.provenance.command.value and "--seed 7" in b.provenance.command.value
    assert b.provenance.command.note == "rebuilt from the saved configuration"
    assert facts["effective dtype"] == "bfloat16" and facts["effective batch size (resolved)"] == "8"
    assert facts["effective plugin thirdparty version"] == "1.0" and len(facts["effective configuration digest"]) == 64
    old = catalog.run(runs.old)
    facts = {f.label: f.value for f in old.provenance.facts}
    for label in ("limit", "seed", "git commit", "harness version", "wall time", "model fingerprint", "python"):
        assert facts[label] is None, label  # shown as unknown, not guessed
    assert old.provenance.limited is None and old.provenance.command.value is None
    task = old.tasks[0]
    assert task.samples_found_by == "file name" and task.n_failed is None
    store = SampleStore()
    assert store.index(task.samples_path).failed == []
    assert store.index(catalog.run(runs.a).tasks[0].samples_path).failed == [7]  # s007 raised


def test_a_torn_last_line_is_reported_not_fatal(runs):
    catalog = scan(runs.root)
    old = catalog.run(runs.old)
    page = page_payload(SampleStore(), old.tasks[0].samples_path, 0)
    assert [r["id"] for r in page["records"]] == ["x1", "line 2"]
    assert "torn last line" in page["records"][1]["problem"]


def test_paired_differences_and_disagreements(runs):
    catalog = scan(runs.root)
    out = compare(SampleStore(), catalog.run(runs.a), catalog.run(runs.b))
    fields = {d["field"]: (d["a"], d["b"]) for d in out["config_differences"]}
    assert fields == {"limit": ("none", 40), "seed": (1234, 7), "effective dtype": ("float32", "bfloat16")}
    (task,) = out["tasks"]
    shared = sorted(set(runs.acc_a) & set(runs.acc_b))
    assert task["n_matched"] == len(shared) == N_SAMPLES - 1  # the failed sample is not paired
    paired = {p["metric"]: p for p in task["paired"]}
    for metric, va, vb in (("acc", runs.acc_a, runs.acc_b), ("score", runs.score_a, runs.score_b)):
        d = [vb[s] - va[s] for s in shared]
        assert paired[metric]["n"] == len(d)
        assert paired[metric]["diff"] == pytest.approx(statistics.fmean(d))
        assert paired[metric]["stderr"] == pytest.approx(statistics.stdev(d) / math.sqrt(len(d)))
    disagree = [s for s in shared if runs.acc_a[s] != runs.acc_b[s]]
    assert task["n_disagreements"] == len(disagree) > 0
    assert [d["id"] for d in task["disagreements"]] == disagree
    assert all(set(d["metrics"]) == {"acc"} for d in task["disagreements"])  # score is not 0/1


def test_data_scripts_cannot_end_their_script(runs):
    blob = script("data/x.js", {"t": EVIL + "</script><!--\u2028"}).decode()
    assert "<" not in blob and "\u2028" not in blob
    payload = json.loads(blob[blob.index(", ") + 2: blob.rindex(")")])
    assert payload["t"] == EVIL + "</script><!--\u2028"


def test_every_committed_results_file_renders():
    """``harness view results/``: every run, task and first sample of the committed results,
    each built-in benchmark through its own plugin's view."""
    pm = PluginManager().load()
    catalog = scan(REPO / "results")
    assert not catalog.problems, catalog.problems
    assert len(catalog.runs) >= 30
    site = Site(catalog, pm)
    seen = set()
    for i, run in enumerate(catalog.runs):
        site.payload(f"data/run/{i}.js")
        for task in run.tasks:
            assert task.samples_path is not None, (run.file.relpath, task.name)
            page = site.payload(f"data/s/{i}/{task.index}/0.js")
            assert page["records"] and all(not r.get("problem") for r in page["records"])
            record = site.payload(f"data/r/{i}/{task.index}/0.js")
            assert record["raw"] == page["records"][0]["raw"] and record["page"] == 0
            titles = [b["title"] for b in record["blocks"]]
            assert BUILTIN_VIEWS[task.benchmark] in titles, (task.benchmark, titles)
            seen.add(task.benchmark)
    assert seen == set(BUILTIN_VIEWS)


def test_cli_errors_are_clear(tmp_path: Path, runs):
    assert_user_error(run_cli(["view", str(tmp_path / "nope")]), "does not exist")
    (tmp_path / "empty").mkdir()
    assert_user_error(run_cli(["view", str(tmp_path / "empty")]), "no readable results_*.json")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    assert_user_error(run_cli(["view", str(runs.root), "--bundle", str(busy)]), "holds other files")
    assert (busy / "keep.txt").read_text() == "mine" and len(list(busy.iterdir())) == 1


def _get(url: str, path: str, host: str | None = None) -> tuple[int, str, dict[str, str]]:
    hostport = url.split("//")[1].rstrip("/")
    conn = http.client.HTTPConnection(hostport, timeout=10)
    conn.putrequest("GET", path, skip_host=host is not None)
    if host is not None:
        conn.putheader("Host", host)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read().decode("utf-8", "replace")
    conn.close()
    return resp.status, body, dict(resp.getheaders())


def test_server_serves_only_the_folder(runs):
    secret = runs.root.parent / "secret.txt"
    secret.write_text("TOP SECRET")
    with Server(runs.root) as server:
        assert server.url.startswith("http://127.0.0.1:")
        status, body, headers = _get(server.url, "/")
        assert status == 200 and "viewer.js" in body and "script-src 'self'" in headers["Content-Security-Policy"]
        status, body, _ = _get(server.url, "/files/tiny-model/samples_toy_task_aaaa.jsonl")
        assert status == 200 and body.count("\n") == N_SAMPLES
        for path in ("/files/../secret.txt", "/files/%2e%2e/secret.txt", "/files/..%2fsecret.txt",
                     "/files/tiny-model/../../secret.txt", f"/files/{secret}", "/files//etc/passwd"):
            status, body, _ = _get(server.url, path)
            assert status == 403 and "refused" in body and "SECRET" not in body, path
        status, body, _ = _get(server.url, "/", host="attacker.example:80")  # a rebound DNS name
        assert status == 403
        assert _get(server.url, "/data/run/99.js")[0] == 404
        assert _get(server.url, "/data/s/0/0/999.js")[0] == 404


class _ToyView:
    """A third-party plugin's view of the toy benchmark."""

    @staticmethod
    def harness_view_sample(benchmark, task, record):
        from harness.viewer.blocks import Text

        return [Text("Toy answer", record["log"]["answer"])] if benchmark == "toy" else None


class _BrokenView:
    @staticmethod
    def harness_view_sample(benchmark, task, record):
        raise KeyError("oops")


def _toy_blocks(runs, plugin) -> list[dict]:
    from harness.hookspecs import hookimpl

    pm = PluginManager().load(autoload=False)
    pm.register_object(type("P", (), {"harness_view_sample": hookimpl(plugin.harness_view_sample)}), name="toyview")
    catalog = scan(runs.root)
    i = catalog.runs.index(catalog.run(runs.a))
    return Site(catalog, pm).payload(f"data/r/{i}/0/0.js")["blocks"]


def test_a_third_party_view_is_used_and_a_failing_one_falls_back(runs):
    assert [b["title"] for b in _toy_blocks(runs, _ToyView)] == ["Toy answer"]
    blocks = _toy_blocks(runs, _BrokenView)
    assert blocks[0]["title"] == "Viewer note" and ["plugin", "toyview"] in blocks[0]["items"]
    assert "KeyError" in str(blocks[0]["items"]) and [b["title"] for b in blocks[1:]] == ["Values", "Document", "Log"]
