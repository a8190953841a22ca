"""MQuAKE + MeLLo plugin: multi-hop questions after knowledge edits (Zhong et al., EMNLP 2023).

Registration only; nothing heavy is imported here (``harness list`` must not import torch).
"""

from __future__ import annotations

from harness.hookspecs import hookimpl
from harness.registry import BenchmarkSpec, MetricSpec
from harness_plugins.mquake.view import harness_view_sample  # noqa: F401 - how its samples look in harness view

HARNESS_API_VERSION = "2.0"
__version__ = "0.1.0"

METRICS = (
    MetricSpec("multihop_acc", "Multi-hop acc.", True, "cases with any of their questions answered correctly (new answer after edits, original answer without)"),
    MetricSpec("hop_acc", "Hop-wise acc.", True, "cases answered correctly with every intermediate answer of the chain right too (MeLLo, chain-of-thought)"),
    MetricSpec("instance_acc", "Instance-wise acc.", True, "cases whose every single-hop fact of the chain is recalled"),
    MetricSpec("edit_acc", "Edit-wise success", True, "edits whose cloze is completed with target_new"),
    MetricSpec("new_answer_rate", "New-answer rate", True, "cases answered with the edited answer by any question"),
    MetricSpec("old_answer_rate", "Old-answer rate", False, "cases answered with the original answer by any question"),
    MetricSpec("parse_failure_rate", "Parse failures", False, "questions whose generation was malformed (MeLLo: no subquestion or final answer; CoT: no answer line)"),
    MetricSpec("max_iterations_rate", "Out of iterations", False, "MeLLo questions still asking subquestions after the last retrieval round"),
    MetricSpec("wrong_retrieval_rate", "Wrong retrievals", False, "MeLLo retrievals at an edited hop that did not return that hop's edit"),
    MetricSpec("unedited/multihop_acc", "Unedited multi-hop acc.", True, "MQuAKE-Remastered (remastered_unedited): unedited cases answered with their original answer while the edited cases' edits are applied"),
    MetricSpec("ignored_edit_rate", "Ignored edits", False, "MeLLo retrievals of the right edit whose intermediate answer is not the edit's target"),
)


@hookimpl
def harness_register_benchmarks() -> list[BenchmarkSpec]:
    return [
        BenchmarkSpec(
            name="mquake",
            implementation="harness_plugins.mquake.benchmark:MQuAKEBenchmark",
            description="MQuAKE multi-hop questions after knowledge edits: no-edit, in-context, MeLLo and weight-editing methods",
            metrics=METRICS,
        )
    ]


@hookimpl
def harness_task_paths() -> list:
    from harness_tasks import task_dir

    return [task_dir("mquake")]
