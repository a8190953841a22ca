"""The viewer in a real headless Chromium, from ``file://`` (the bundle) and from the server:
open a run, filter samples, open a sample of each built-in plugin, compare two runs whose
configurations differ, and see a traversal request refused. Screenshots of each page type go
to the test's folder, and to ``$HARNESS_VIEWER_SCREENSHOTS`` when set (docs/viewer)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from testutil import REPO
from vw_fixtures import EVIL, EVIL_ATTR, N_SAMPLES, TASK, Server

from harness.leaderboard.browser import Browser, find_browser

pytestmark = pytest.mark.skipif(
    find_browser() is None,
    reason="headless Chromium not installed (apt-get install -y --no-install-recommends chromium chromium-driver)",
)


def go(browser: Browser, url: str) -> str:
    """Open ``url`` (or a new ``#…`` route on the open page) and wait until the page has drawn it."""
    browser.run("if (document.body) delete document.body.dataset.ready;")
    browser.open(url)
    return wait(browser)


def click(browser: Browser, css: str) -> str:
    """Click what navigates to another route and wait until it is drawn."""
    browser.run("delete document.body.dataset.ready;")
    browser.click(css)
    return wait(browser)


def wait(browser: Browser, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if browser.run("return document.body && document.body.dataset.ready ? 1 : 0;"):
            return browser.run("return document.getElementById('app').innerText;")
        time.sleep(0.05)
    raise AssertionError(f"{browser.run('return location.href;')} did not finish drawing")


def errors(browser: Browser) -> list[str]:
    return [e["message"] for e in browser.console() if e.get("level") == "SEVERE"]


def shot(browser: Browser, tmp_path: Path, name: str, docs: bool = False) -> None:
    """A screenshot of the page as drawn; ``docs``: also one for docs/viewer (committed results)."""
    path = browser.screenshot(tmp_path / f"{name}.png", full_page=False)
    assert path.stat().st_size > 5000
    if docs and os.environ.get("HARNESS_VIEWER_SCREENSHOTS"):
        from PIL import Image  # matplotlib's dependency: a 64-colour palette keeps committed PNGs small

        target = browser.screenshot(Path(os.environ["HARNESS_VIEWER_SCREENSHOTS"]) / f"{name}.png", full_page=False)
        Image.open(target).convert("RGB").quantize(colors=64).save(target, optimize=True)


def rows(browser: Browser, css: str) -> list[str]:
    return browser.run(f"return Array.from(document.querySelectorAll({css!r})).map(e => e.textContent);")


def test_bundle_from_file_url(runs, bundle, tmp_path):
    index = (bundle / "index.html").as_uri()
    with Browser(width=1200, height=760) as b:
        text = go(b, index)
        assert "Runs" in text and errors(b) == []
        listed = rows(b, "#runs tbody tr td:nth-child(2) a")
        assert sorted(listed) == ["aaaa1111", "bbbb2222", "old0"] and listed.index("bbbb2222") < listed.index("aaaa1111")  # newest first
        assert "limit 40" in rows(b, "#runs tbody tr[data-key=bbbb2222] td:nth-child(2)")[0]
        assert rows(b, "#runs tbody tr[data-key=old0] td:nth-child(2)")[0].endswith("limit unknown")
        shot(b, tmp_path, "runs")

        # a run: provenance, reproducing command, the limit marked
        text = go(b, index + "#/run/bbbb2222")
        assert "harness run --model hf --model-args pretrained=tiny --tasks toy_task --limit 40 --seed 7" in text
        assert "Limited run: only the first 40 samples" in text
        assert "git commit\tabc123" in text
        shot(b, tmp_path, "run")
        text = go(b, index + "#/run/old0")
        facts = dict(r.split("\t", 1) for r in b.run("return Array.from(document.querySelectorAll('table.provenance tr')).map(r => r.innerText);"))
        for label in ("seed", "git commit", "harness version", "wall time", "limit"):
            assert facts[label].startswith("unknown"), (label, facts[label])
        assert rows(b, "#tasks tbody td:nth-child(4)") == ["unknown (0 in the log)"]

        # a task: metrics, samples paged, filters
        text = go(b, index + f"#/run/aaaa1111/task/{TASK}")
        assert f"{N_SAMPLES} samples · page 1 of 3" in text
        assert len(rows(b, "table.samples tbody tr")) == 25
        shown = rows(b, "table.samples tbody tr td:first-child")
        assert shown[3] == "s003" and shown[7] == "s007"
        assert "failed" in rows(b, "table.samples tbody tr[data-id=s007] td:nth-child(2)")[0]
        assert "page 2 of 3" in click(b, ".pager button:last-child")
        assert rows(b, "table.samples tbody tr td:first-child")[0] == "s025"
        shot(b, tmp_path, "task")

        def filtered(query: str, outcome: str = "any") -> list[str]:
            q = quote(query, safe="")
            go(b, index + f"#/run/aaaa1111/task/{TASK}?q={q}&outcome={outcome}&metric=acc")
            n = int(b.run("return document.getElementById('sample-status').dataset.matches;"))
            ids = rows(b, "table.samples tbody tr td:first-child")
            assert len(ids) == min(n, 25)
            return ids

        correct = sorted(s for s, v in runs.acc_a.items() if v == 1)
        assert filtered("", "correct") == correct[:25]
        assert filtered("acc=0") == sorted(s for s, v in runs.acc_a.items() if v == 0)[:25]
        assert filtered("method=das layer=2") == [f"s{i:03d}" for i in range(N_SAMPLES) if i % 3 == 0 and i % 4 == 2 and i != 7]
        assert filtered("score>1.0") == sorted(s for s, v in runs.score_a.items() if v > 1.0)[:25]
        assert filtered("", "failed") == ["s007"]
        assert filtered('"question number 42"') == ["s042"]
        assert filtered("onerror") == ["s004"]

        # a sample: the generic view; hostile strings stay text
        text = go(b, index + f"#/run/aaaa1111/task/{TASK}/sample/s003?n=3")
        assert EVIL in text
        text = go(b, index + f"#/run/aaaa1111/task/{TASK}/sample/s004?n=9")  # a stale hint: found by its id
        assert EVIL_ATTR in text
        assert [t for t in rows(b, "#sample-view h3")] == ["Values", "Document", "Log"]
        assert b.run("return typeof window.__pwned;") == "undefined"
        assert b.run("return document.querySelectorAll('img').length;") == 0
        shot(b, tmp_path, "sample")

        # comparison: the loud warning names the differing fields
        text = go(b, index + "#/compare/aaaa1111/bbbb2222")
        warning = b.run("return document.querySelector('.config-warning').innerText;")
        assert "configurations differ in 3 fields" in warning
        assert rows(b, ".config-warning tr[data-field] td:first-child") == ["limit", "seed", "effective dtype"]
        assert f"{N_SAMPLES - 1} samples match by id" in text
        metrics = rows(b, "table.paired tbody tr td:first-child")
        assert metrics == ["acc", "score"]
        n_dis = sum(1 for s in runs.acc_a if s in runs.acc_b and runs.acc_a[s] != runs.acc_b[s])
        assert f"{n_dis} samples disagree" in text and len(rows(b, "table.disagreements tbody tr")) == n_dis
        shot(b, tmp_path, "compare")

        # three runs: all side by side, then each against the baseline; the old file's fields are unknown
        text = go(b, index + "#/compare/aaaa1111/bbbb2222/old0")
        assert rows(b, "table.all-runs thead th") == ["Task", "Metric", "aaaa1111", "bbbb2222", "old0"]
        assert rows(b, "table.all-runs tbody tr td:last-child") == ["1", "—"]  # old0 has acc only
        assert len(b.run("return document.querySelectorAll('.config-warning');")) == 2
        old_fields = rows(b, ".config-warning:last-of-type tr[data-field] td:first-child")
        assert {"seed", "limit", "git commit", "harness version", "model"} <= set(old_fields)
        assert "unknown" in b.run("return document.querySelectorAll('.config-warning')[1].innerText;")
        assert errors(b) == []


def test_compare_from_the_runs_page_and_traversal_refused_by_the_server(runs, tmp_path):
    (runs.root.parent / "outside.txt").write_text("OUTSIDE THE FOLDER")
    with Server(runs.root) as server, Browser(width=1200, height=760) as b:
        go(b, server.url)
        b.click("input[data-key=aaaa1111]")
        b.click("input[data-key=bbbb2222]")
        text = click(b, "#compare")
        assert b.run("return location.hash;") == "#/compare/aaaa1111/bbbb2222"
        assert "configurations differ in 3 fields" in text
        b.open(server.url + "files/..%2foutside.txt")
        body = b.run("return document.body.innerText;")
        assert "refused" in body and "OUTSIDE" not in body
        b.open(server.url + "files/tiny-model/samples_toy_task_aaaa.jsonl")
        assert b.run("return document.body.innerText;").count("sample_id") == N_SAMPLES


SAMPLES = {  # a committed run's sample of each built-in plugin -> a text only its view shows
    "causalgym": ("2941396fb06e5319", "causalgym_acceptance_agreement", "agr_gender/das/site14/span1", "label log-odds before and after"),
    "ravel": ("3a2f3c9eac885ad2", "ravel_refdata_acceptance", "city/Country/pca", "expected value"),
    "mquake": (None, "mquake_mini_mello", "1", "MeLLo iterations"),  # run: the smollm2 run that has this task
    "activation_decoding": ("17243ab7a95a87a4", "activation_decoding_truthfulqa_sample", "tqa-0000", "log-probability under each of 3 methods"),
    "llm_usage": ("c642b7564383f391", "llm_usage_sotu_over_time", "1790s", "α̂ vs α (95% bootstrap interval)"),
}


def test_a_sample_of_each_builtin_plugin(tmp_path):
    """The committed results, served: each plugin's own view of one of its samples."""
    from harness.viewer.catalog import scan

    catalog = scan(REPO / "results")
    mello = next(r for r in catalog.runs if r.task("mquake_mini_mello") and r.file.model == "smollm2-135m")
    with Server(REPO / "results") as server, Browser(width=1200, height=1000) as b:
        for plugin, (run, task, sid, needle) in SAMPLES.items():
            run = run or mello.key
            text = go(b, server.url + f"#/run/{run}/task/{quote(task, safe='')}/sample/{quote(sid, safe='')}")
            assert needle in text, (plugin, text[:2000])
            assert "Raw record" in text
            shot(b, tmp_path, f"sample-{plugin}", docs=True)
        # the other page types, for docs/viewer
        go(b, server.url)
        shot(b, tmp_path, "runs", docs=True)
        assert "Reproduce" in go(b, server.url + "#/run/497599bdb4871be3")
        shot(b, tmp_path, "run", docs=True)
        text = go(b, server.url + "#/run/497599bdb4871be3/task/causalgym_quick?q=method%21%3Ddas+iia%3E0.1&outcome=any")
        assert "3 of 18 samples match" in text  # probe 0.17, mean 0.25 and 0.5
        shot(b, tmp_path, "task", docs=True)
        text = go(b, server.url + "#/compare/497599bdb4871be3/17243ab7a95a87a4")  # smollm2 vs gemma3: a loud warning
        fields = rows(b, ".config-warning tr[data-field] td:first-child")
        assert "model" in fields and "model fingerprint" in fields
        shot(b, tmp_path, "compare", docs=True)
        assert errors(b) == []


def test_leaderboard_cells_open_the_viewer(runs, tmp_path):
    """A leaderboard cell links to its run and task in a bundle beside the page; limited runs are marked."""
    from testutil import run_cli

    out = tmp_path / "board"
    proc = run_cli(["leaderboard", str(runs.root), "--out", str(out), "--no-plots", "--all-runs"])
    assert proc.returncode == 0, proc.stderr
    proc = run_cli(["view", str(runs.root), "--bundle", str(out / "viewer")])
    assert proc.returncode == 0, proc.stderr
    assert "(limit 40)" in (out / "leaderboard.md").read_text()
    with Browser(width=1200, height=760) as b:
        b.open((out / "index.html").as_uri())
        cells = b.run("return Array.from(document.querySelectorAll('td a')).map(a => [a.getAttribute('href'), a.closest('td').textContent]);")
        assert [h for h, _ in cells if "bbbb2222" in h] == [f"viewer/index.html#/run/bbbb2222/task/{TASK}"] * 2
        assert all("limit 40" in t for h, t in cells if "bbbb2222" in h)
        assert not any("limit" in t for h, t in cells if "aaaa1111" in h)
        b.click('td a[href$="#/run/bbbb2222/task/toy_task"]')
        text = wait(b)
        assert b.run("return location.pathname;").endswith("/viewer/index.html")
        assert "Limited run: only the first 40 samples" in text and f"{N_SAMPLES} samples" in text
