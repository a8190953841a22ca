"""What ``--resume`` may reuse: a logged sample counts only if it still describes the same work.

A line is reused when its sample is still part of the task, it did not fail, and its
``doc_hash``, ``prompt_hash`` and configuration digest match the sample as built now
(lines written before the digest was logged are matched by their file's key alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.benchmark import Sample
from harness.results import doc_hash, prompt_hash


@dataclass
class ReuseCheck:
    reused: int = 0
    stale: int = 0  # data, prompt or configuration changed: recomputed
    failed: int = 0  # failed last time: retried
    unknown: int = 0  # no longer part of the task

    @property
    def dropped(self) -> int:
        return self.stale + self.failed + self.unknown

    def message(self) -> str:
        parts = [f"{n} {what}" for n, what in (
            (self.stale, "changed since they were logged (data, prompt or configuration) and are recomputed"),
            (self.failed, "failed last time and are retried"),
            (self.unknown, "are no longer part of the task and are dropped"))
            if n]
        return f"resume: {self.reused} sample(s) reused; " + "; ".join(parts) if parts else ""


def reusable(done: dict[str, dict[str, Any]], samples: dict[str, Sample], config: str) -> tuple[dict[str, dict[str, Any]], ReuseCheck]:
    """The logged records that may be reused, and counts of the others."""
    check, keep = ReuseCheck(), {}
    for sid, rec in done.items():
        sample = samples.get(sid)
        if sample is None:
            check.unknown += 1
        elif rec.get("error"):
            check.failed += 1
        elif (rec.get("doc_hash") != doc_hash(sample.doc) or rec.get("prompt_hash") != prompt_hash(sample.prompt)
              or rec.get("config", config) != config):
            check.stale += 1
        else:
            keep[sid] = rec
    check.reused = len(keep)
    return keep, check
