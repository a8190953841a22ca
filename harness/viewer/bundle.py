"""``harness view DIR --bundle OUT``: the viewer as static files that work from ``file://``.

The same data files the server computes on request are written ahead: every page of every
sample log and every record's view (so no log is ever read whole, here or in the browser),
and the comparison of every ordered pair of runs that share a task. OUT must be empty or an earlier bundle.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.viewer.server import STATIC, static_file
from harness.viewer.site import Site, script

MARKER = ".harness-viewer-bundle"


class BundleError(ValueError):
    """OUT cannot take a bundle (it holds other files)."""


def write_bundle(site: Site, out: Path) -> dict[str, int]:
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise BundleError(f"{out}: expected an empty folder or an earlier viewer bundle; it holds other files, so nothing was written")
    if (out / "data").is_dir():
        shutil.rmtree(out / "data")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by harness view --bundle; the whole folder is replaced on the next bundle\n", encoding="utf-8")
    for name in STATIC:
        (out / name).write_bytes(static_file(name))
    runs = site.catalog.runs
    names = {i: {t.name for t in r.tasks} for i, r in enumerate(runs)}
    site.compare_pairs = [(i, j) for i in names for j in names if i != j and names[i] & names[j]]
    counts = {"runs": len(runs), "pages": 0, "comparisons": len(site.compare_pairs)}
    _write(out, site, "data/index.js")
    for i, run in enumerate(runs):
        _write(out, site, f"data/run/{i}.js")
        for t in run.tasks:
            if t.samples_path is None:
                continue
            index = site.store.index(t.samples_path)
            for p in range(max(len(index.pages), 1)):  # an empty log still gets its (empty) first page
                _write(out, site, f"data/s/{i}/{t.index}/{p}.js")
            for n in range(index.n_records):
                _write(out, site, f"data/r/{i}/{t.index}/{n}.js")
            _write(out, site, f"data/ids/{i}/{t.index}.js")
            counts["pages"] += len(index.pages)
    for i, j in site.compare_pairs:
        _write(out, site, f"data/compare/{i}-{j}.js")
    return counts


def _write(out: Path, site: Site, name: str) -> None:
    path = out / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(script(name, site.payload(name)))
