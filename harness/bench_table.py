"""The README's performance table, rendered from one ``harness bench ... --json`` report.

``harness bench --table FILE`` prints it; the README carries the table of the committed report
(``results/bench/``) between markers, and a test checks that the two agree, so every figure
there is reproduced by the one command recorded in the report.
"""

from __future__ import annotations

from typing import Any

BEGIN, END = "<!-- bench table: begin -->", "<!-- bench table: end -->"


def _load(report: dict[str, Any], part: str) -> str:
    """The threads a part ran with and the load average when it started."""
    t = report["thread_choices"][part]
    return f"{t['threads']} thread{'s' if t['threads'] != 1 else ''} ({t['setting']}), load {t['loadavg'][0]:.1f} at start"


def rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    if "scoring" in report:
        s = report["scoring"]
        tps = s["tokens_per_second"]
        out.append(("scoring vs lm-eval HFLM",
                    f"{s['questions']} questions, {s['requests']} requests, {s['scored_tokens']:,} scored tokens, batch {s['batch_size']}; {_load(report, 'scoring')}",
                    f"{tps['harness']:.1f} vs {tps['lm_eval_HFLM']:.1f} tok/s: **{s['speedup_vs_lm_eval']:.2f}×**; max \\|Δ log-prob\\| {s['max_abs_logprob_diff']:.1e}"))
    if "generation" in report:
        g = report["generation"]
        m = g["median_seconds"]
        out.append(("batched generation vs one at a time",
                     f"{g['prompts']} prompts, {g['max_new_tokens']} new tokens, batch {g['batch_size']}; {_load(report, 'generation')}",
                     f"{m['batched']:.1f} s vs {m['one_at_a_time']:.1f} s: **{g['speedup_batched']:.2f}×** "
                     + (f"(without drafts {g['speedup_no_drafts']:.2f}×, " if "speedup_no_drafts" in g else "(")
                     + f"batching alone {g['speedup_batching_only']:.2f}×); identical outputs: {g['identical_outputs']}"))
    if "threads" in report:
        t = report["threads"]
        picks = sorted({p["threads"] for p in t["auto_picks"]})
        load = report["thread_choices"]["threads"]["loadavg"][0]
        for part in ("prefill", "decode"):
            m = t["median_seconds"][part]
            out.append((f"threads: {part}", f"{t[part]}; load {load:.1f} at start; auto picked {picks}",
                        f"1 thread {m['1']:.2f} s, {t['cores']} threads {m['one_per_core']:.2f} s "
                        f"(**{t['one_per_core_vs_1'][part]:.2f}×** the time of 1), auto {m['auto']:.2f} s"))
    if "suite" in report:
        s = report["suite"]
        tasks = ", ".join(f"{name} {v['wall_seconds']:.0f} s" for name, v in s["tasks"].items())
        threads = sorted({v["threads"] for v in s["tasks"].values() if v.get("threads")})
        out.append(("default suite (`harness run`)", f"{report['context']['extra_busy_processes']} extra busy processes, "
                    f"threads {threads}, load {s['loadavg_before'][0]:.1f} → {s['loadavg_after'][0]:.1f}",
                    f"**{s['wall_seconds']:.0f} s** wall, {s['cpu_seconds']:.0f} CPU-s (startup and model load "
                    f"{s['model_load_and_startup_seconds']:.0f} s; {tasks})"))
    return out


def markdown(report: dict[str, Any], source: str) -> str:
    ctx = report["context"]
    head = (f"From [`{source}`]({source}) (`{report.get('command', 'harness bench')}`): {report['model']}, "
            f"{ctx['cpu_model']}, {ctx['cores']} cores, torch {ctx['versions'].get('torch', '?')}, "
            f"transformers {ctx['versions'].get('transformers', '?')}, harness {ctx['versions'].get('interp-harness', '?')}.")
    lines = [head, "", "| benchmark | setting | result |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows(report)]
    return "\n".join(lines)
