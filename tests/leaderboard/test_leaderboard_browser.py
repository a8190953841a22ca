"""The generated page in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``):
it loads from file:// without console errors, the tables sort, the images load, hostile
model names stay text, and a screenshot is written."""

from __future__ import annotations

import json
import random

import pytest
from lb_fixtures import EVIL, EVIL_ATTR, make_run, run_leaderboard

from harness.leaderboard.browser import Browser, find_browser

pytestmark = pytest.mark.skipif(
    find_browser() is None,
    reason="headless Chromium not installed (apt-get install -y --no-install-recommends chromium chromium-driver)",
)

ROW_LABELS = "return Array.from(document.querySelector(arguments[0] + ' table.board').tBodies[0].rows).map(r => r.cells[0].textContent);"
COLUMN_VALUES = """
const th = Array.from(document.querySelectorAll(arguments[0] + ' thead th')).find(h => h.dataset.key === arguments[1]);
const col = Array.from(th.parentNode.children).indexOf(th);
return Array.from(th.closest('table').tBodies[0].rows).map(tr => tr.cells[col].dataset.value);
"""


def _section(doc: dict, name: str) -> str:
    index = [b["name"] for b in doc["benchmarks"]].index(name)
    return f"section#b{index}"


def _numbers(values: list[str]) -> list[float | None]:
    return [float(v) if v else None for v in values]


def test_page_in_headless_chromium(built):
    tree, out, proc = built
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "leaderboard.json").read_text(encoding="utf-8"))
    with Browser(width=1280, height=900) as browser:
        browser.open((out / "index.html").as_uri())
        assert browser.alert_text() is None, "a script from a results file ran (alert open)"
        assert browser.run("return document.readyState;") == "complete"
        assert browser.run("return document.title;") == "Leaderboard"

        # hostile names are shown as text and ran nothing
        assert browser.run("return typeof window.__pwned;") == "undefined"
        labels = browser.run("return Array.from(document.querySelectorAll('tbody th.model')).map(e => e.textContent);")
        assert EVIL in labels and EVIL_ATTR in labels
        assert browser.run("return document.querySelectorAll('script').length;") == 1
        assert browser.run("return document.querySelectorAll('main img').length;") == sum(len(b["plots"]) for b in doc["benchmarks"])

        # every plot image loaded
        images = browser.run("return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]);")
        assert len(images) == 5
        for src, complete, width in images:
            assert complete and width > 100, f"{src} did not load"

        # one table per benchmark, plus a folded "more metrics" table where a benchmark reports extra metrics
        assert browser.run("return document.querySelectorAll('section > .scroll > table.board').length;") == len(doc["benchmarks"])
        with_extra = [b["name"] for b in doc["benchmarks"] if any(not c["headline"] for c in b["columns"])]
        assert with_extra == ["activation_decoding_truthfulqa_mc", "ravel"]
        assert browser.run("return document.querySelectorAll('details.more table.board').length;") == 2

        # sorting: a lower-is-better column sorts smallest first, then the other way; missing values stay last
        section = _section(doc, "llm_usage")
        key = "llm_usage_validation/mae"
        browser.click(f'{section} th[data-key="{key}"] button')
        values = _numbers(browser.run(COLUMN_VALUES, section, key))
        present = [v for v in values if v is not None]
        assert present == sorted(present) and len(present) >= 2
        assert browser.run(f"return document.querySelector('{section} th[data-key=\"{key}\"]').getAttribute('aria-sort');") == "ascending"
        browser.click(f'{section} th[data-key="{key}"] button')
        values = _numbers(browser.run(COLUMN_VALUES, section, key))
        assert [v for v in values if v is not None] == sorted(present, reverse=True)

        section = _section(doc, "causalgym")
        key = "causalgym_npi_any/log_odds"  # the hostile model has no value here
        browser.click(f'{section} th[data-key="{key}"] button')
        values = _numbers(browser.run(COLUMN_VALUES, section, key))
        assert values[-1] is None and values[:-1] == sorted(values[:-1], reverse=True)  # higher is better: best first
        browser.click(f'{section} th[data-key="{key}"] button')
        values = _numbers(browser.run(COLUMN_VALUES, section, key))
        assert values[-1] is None and values[:-1] == sorted(values[:-1])

        browser.click(f'{section} th[data-key="model"] button')
        rows = browser.run(ROW_LABELS, section)
        assert rows == sorted(rows, key=str.lower)

        # the folded table opens and sorts too
        section = _section(doc, "activation_decoding_truthfulqa_mc")
        browser.click(f"{section} details.more summary")
        key = "truthfulqa_mc_activation/greedy/mc1"
        browser.click(f'{section} th[data-key="{key}"] button')
        values = _numbers(browser.run(COLUMN_VALUES, section, key))
        assert len(values) == 2 and values == sorted(values, reverse=True)

        # no console output at all: no errors, warnings, CSP violations or failed loads
        entries = browser.console()
        assert entries == [], entries

        shot = browser.screenshot(out / "screenshot.png")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    assert width == 1280 and height > 900  # the whole page, not just the first screen


def test_screenshot_option_of_the_command(tmp_path, built):
    tree, _, _ = built
    run = make_run("tiny-model", "2026-11-22T00:00:00Z", ["thirdparty_task"], random.Random(3))
    (tmp_path / "res" / "tiny").mkdir(parents=True)
    (tmp_path / "res" / "tiny" / "results_1.json").write_text(json.dumps(run))
    proc = run_leaderboard(type(tree)(tmp_path / "res", plugin_dir=tree.plugin_dir), tmp_path / "out", "--screenshot")
    assert proc.returncode == 0, proc.stderr
    shot = tmp_path / "out" / "screenshot.png"
    assert str(shot) in proc.stdout
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
