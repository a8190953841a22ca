"""One CausalGym cell: fit a method at (layer, position) on train pairs, evaluate on eval pairs.

Per task, every base and source sentence runs through the model once (:class:`TaskState`);
each cell then reads activations from those runs, fits its featurizer (DAS trains through
the cached engine) and measures the intervention on the eval pairs.

DAS trains to convergence by default (:class:`~harness_plugins.causalgym.das_options.DASOptions`
``converge``): a seeded ``heldout`` share of the cell's *training* pairs is held out (never the
evaluation pairs), the rest are trained on, and training stops when the held-out loss has not
improved for ``patience`` evaluations (one every ``eval_every`` steps) or at ``max_steps``; the best evaluated rotation is kept and
the steps taken are reported. Selectivity is reported by the paper's rule (effect - control) and
by a sign-free one (effect - |control|), see docs/plugins/causalgym.md.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

import random

from harness.interventions import CachedProblem, CachedRun, InterchangeEngine, TokenBatch, make_featurizer
from harness_plugins.causalgym.das_options import DASOptions
from harness_plugins.causalgym.metrics import interchange_accuracy, log_odds, logodds_effect
from harness_plugins.causalgym.prepare import PreparedPairs


@dataclass
class SweepConfig:
    das: DASOptions = field(default_factory=DASOptions)
    probe_C: float = 1.0
    control: bool = True
    das_control: bool = True  # retrain DAS on the control labels (doubles DAS cost)
    external: dict | None = None  # options for 'module:factory' methods
    seed: int = 0
    min_pairs: int = 2
    featurizers: Any = None  # the run's Registry (ctx.registry): featurizers are looked up there


@dataclass
class TaskState:
    """One task's clean runs and clean numbers, shared by all its cells."""

    task: str
    train: PreparedPairs
    eval: PreparedPairs
    train_base: CachedRun
    train_src: CachedRun
    eval_base: CachedRun
    eval_src: CachedRun
    clean_logits: torch.Tensor  # (n_eval, V) at each base's last token
    accuracy: float  # model prefers the right label, over eval bases and sources
    control_leakage: float = 0.0  # mean change of the control log-odds from base to source sentence


def build_state(engine: InterchangeEngine, train: PreparedPairs, eval_: PreparedPairs, pad_id: int,
                sites: list[int] | None = None) -> TaskState:
    """Run every sentence once, keeping the states of ``sites`` (default: all) and all K/V."""
    def run(ids):
        return engine.run(TokenBatch.from_ids(ids, pad_id=pad_id), chunk_size=32, sites=sites)

    eval_base, eval_src = run(eval_.base_ids), run(eval_.src_ids)
    base_logits = engine.clean_logits(eval_base)
    src_logits = engine.clean_logits(eval_src)
    right_base = log_odds(base_logits, eval_.base_label, eval_.src_label) > 0
    right_src = log_odds(src_logits, eval_.src_label, eval_.base_label) > 0
    accuracy = float(torch.cat([right_base, right_src]).float().mean())
    # What the whole manipulated feature does to the control labels, in the model itself: the
    # source sentence's control log-odds minus the base's (0 when the control labels ignore it).
    leak = log_odds(src_logits, eval_.src_control, eval_.base_control) - log_odds(base_logits, eval_.src_control, eval_.base_control)
    return TaskState(
        task=eval_.task, train=train, eval=eval_,
        train_base=run(train.base_ids), train_src=run(train.src_ids), eval_base=eval_base, eval_src=eval_src,
        clean_logits=base_logits,
        accuracy=accuracy,
        control_leakage=float(leak.mean()),
    )


def _positions(prep: PreparedPairs, rows: list[int], span: int) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.tensor([prep.base_pos[i][span] for i in rows]), torch.tensor([prep.src_pos[i][span] for i in rows]))


def _problem(engine: InterchangeEngine, base: CachedRun, src: CachedRun, prep: PreparedPairs, rows: list[int],
             span: int, site: int, targets: list[int] | None) -> CachedProblem:
    bpos, spos = _positions(prep, rows, span)
    idx = torch.tensor(rows)
    src_states = src.states[site][idx.to(src.final.device), spos.to(src.final.device)]
    return CachedProblem(
        engine=engine, base=base, site=site, base_positions=bpos, source_states=src_states,
        targets=None if targets is None else torch.tensor([targets[i] for i in rows]), run_rows=idx,
    )


def _fit(method: str, state: TaskState, engine: InterchangeEngine, site: int, span: int, rows: list[int],
         cfg: SweepConfig, control: bool) -> tuple[Any, dict[str, Any]]:
    """Fit ``method`` on the train pairs usable at ``span``; returns (intervention, log)."""
    tr = state.train
    bpos, spos = _positions(tr, rows, span)
    idx = torch.tensor(rows)
    dev = state.train_base.final.device
    X = torch.cat([state.train_base.states[site][idx.to(dev), bpos.to(dev)],
                   state.train_src.states[site][idx.to(dev), spos.to(dev)]]).cpu()
    y = torch.tensor([tr.base_class[i] for i in rows] + [tr.src_class[i] for i in rows])
    if method == "das":
        targets = tr.src_control if control else tr.src_label
        if cfg.das.converge:
            return _fit_das_converged(state, engine, site, span, rows, targets, cfg)
        problem = _problem(engine, state.train_base, state.train_src, tr, rows, span, site, targets)
        feat = make_featurizer("das", cfg.featurizers, rank=cfg.das.rank, seed=cfg.seed, lr=cfg.das.lr, batch_size=cfg.das.batch_size,
                               epochs=cfg.das.epochs, steps=cfg.das.steps, warmup=cfg.das.warmup)
        feat.fit(X, y, problem=problem)
        losses = feat.log_.losses
        tail = losses[-max(1, len(losses) // 10):]
        return feat.intervention(), {"train_steps": feat.log_.steps, "final_loss": sum(tail) / len(tail)}
    if ":" in method:
        from harness.interventions.external import fit_external

        fn = fit_external(method, X.numpy(), y.numpy(), hidden_size=X.shape[1], seed=cfg.seed, **(cfg.external or {}))
        return fn.to(dev), {"features": int(fn.indices.numel())}
    kwargs: dict[str, Any] = {}
    if method == "probe":
        kwargs["C"] = cfg.probe_C
    if method in ("kmeans", "random"):
        kwargs["seed"] = cfg.seed
    feat = make_featurizer(method, cfg.featurizers, **kwargs).fit(X, y)
    return feat.intervention(), {}


def _fit_das_converged(state: TaskState, engine: InterchangeEngine, site: int, span: int, rows: list[int],
                       targets: list[int], cfg: SweepConfig) -> tuple[Any, dict[str, Any]]:
    """DAS on the training pairs minus a held-out slice, stopped on the slice's loss."""
    from harness.interventions import RotatedSubspace
    from harness.interventions.training import ConvergeConfig, train_converged

    order = list(rows)
    random.Random(f"{cfg.seed}:heldout:{state.task}").shuffle(order)
    n_held = max(1, round(cfg.das.heldout * len(order)))
    held, fit_rows = sorted(order[:n_held]), sorted(order[n_held:])
    tr = state.train
    problem = _problem(engine, state.train_base, state.train_src, tr, fit_rows, span, site, targets)
    heldout = _problem(engine, state.train_base, state.train_src, tr, held, span, site, targets)
    module = RotatedSubspace(state.train_base.states[site].shape[-1], rank=cfg.das.rank, seed=cfg.seed).to(state.train_base.final.device)
    log = train_converged(problem, module, heldout, ConvergeConfig(
        lr=cfg.das.lr, batch_size=cfg.das.batch_size, eval_every=cfg.das.eval_every, patience=cfg.das.patience,
        max_steps=cfg.das.max_steps, seed=cfg.seed))
    from harness.interventions import Subspace

    fn = Subspace(module.rows.detach())
    fn.rows = module.rows.detach().clone()
    return fn, {"train_steps": log.steps, "best_step": log.best_step, "stopped": log.stopped,
                "final_loss": min(log.heldout_losses), "heldout_pairs": len(held), "fit_pairs": len(fit_rows)}


@torch.no_grad()
def _evaluate(fn: Any, state: TaskState, engine: InterchangeEngine, site: int, span: int, rows: list[int],
              controls: tuple[bool, ...] = (False,)) -> list[dict[str, Any]]:
    """Per labelling in ``controls`` (one forward): mean effect, IIA and the per-pair values
    (clean and intervened log-odds of the source label over the base label, effect, success)."""
    ev = state.eval
    problem = _problem(engine, state.eval_base, state.eval_src, ev, rows, span, site, None)
    logits = problem.logits(fn)
    clean = state.clean_logits[torch.tensor(rows).to(logits.device)]
    out = []
    for control in controls:
        y_b = [ev.base_control[i] if control else ev.base_label[i] for i in rows]
        y_s = [ev.src_control[i] if control else ev.src_label[i] for i in rows]
        before, after = log_odds(clean, y_s, y_b), log_odds(logits, y_s, y_b)
        effect = logodds_effect(logits, clean, y_b, y_s)
        iia = interchange_accuracy(logits, y_b, y_s).float()
        out.append({"effect": float(effect.mean()), "iia": float(iia.mean()),
                    "pairs": {"clean": before.tolist(), "intervened": after.tolist(), "effect": effect.tolist(), "matched": iia.bool().tolist()}})
    return out


def pair_records(state: TaskState, rows: list[int], real: dict, control: dict | None) -> list[dict[str, Any]]:
    """One log record per evaluated pair: texts, labels, scored outputs, whether it flipped."""
    ev = state.eval
    recs = []
    for j, i in enumerate(rows):
        base, src = ev.texts[i] if ev.texts else ("", "")
        rec = {"pair": i, "base": base, "source": src, "base_label": ev.base_label[i], "expected": ev.src_label[i],
               "clean_logodds": real["pairs"]["clean"][j], "intervened_logodds": real["pairs"]["intervened"][j],
               "effect": real["pairs"]["effect"][j], "matched": real["pairs"]["matched"][j]}
        if control is not None:
            rec["control_effect"] = control["pairs"]["effect"][j]
        recs.append(rec)
    return recs


def run_cell(state: TaskState, engine: InterchangeEngine, method: str, site: int, span: int, cfg: SweepConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit and evaluate one (method, site, span) cell: (values for one benchmark sample, its log
    with every pair's record and the fitted interventions under ``"modules"``)."""
    t0 = time.time()
    train_rows, eval_rows = state.train.usable(span), state.eval.usable(span)
    out: dict[str, Any] = {
        "task": state.task, "method": method, "site": site, "span": span,
        "position": state.eval.span_names[state.eval.span_indices.index(span)],
        "n_train": len(train_rows), "n_eval": len(eval_rows), "task_accuracy": state.accuracy,
        "control_leakage": state.control_leakage,
        "logodds": None, "iia": None, "control_logodds": None, "selectivity": None, "selectivity_abs": None,
    }
    log: dict[str, Any] = {"modules": {}}
    classes = {state.train.base_class[i] for i in train_rows} | {state.train.src_class[i] for i in train_rows}
    if len(train_rows) < cfg.min_pairs or len(eval_rows) < cfg.min_pairs or len(classes) < 2:
        out["skipped"] = "too few pairs with this span non-empty on both sides"
        return out, log
    fn, info = _fit(method, state, engine, site, span, train_rows, cfg, control=False)
    out.update(info)
    log["modules"]["fn"] = fn
    control = None
    if not cfg.control or (method == "das" and not cfg.das_control):
        (real,) = _evaluate(fn, state, engine, site, span, eval_rows)
    elif method == "das":  # retrained on the relabelled task
        (real,) = _evaluate(fn, state, engine, site, span, eval_rows)
        fn_c, info_c = _fit(method, state, engine, site, span, train_rows, cfg, control=True)
        log["modules"]["control_fn"] = fn_c
        out["control_final_loss"] = info_c.get("final_loss")
        out["control_train_steps"] = info_c.get("train_steps")
        (control,) = _evaluate(fn_c, state, engine, site, span, eval_rows, (True,))
    else:  # the other fits never see the label tokens: one forward serves both labellings
        real, control = _evaluate(fn, state, engine, site, span, eval_rows, (False, True))
    out["logodds"], out["iia"] = real["effect"], real["iia"]
    if control is not None:
        out["control_logodds"] = control["effect"]
        out["selectivity"] = out["logodds"] - out["control_logodds"]  # the paper's rule
        out["selectivity_abs"] = out["logodds"] - abs(out["control_logodds"])  # sign-free: never above the effect
    log["pairs"] = pair_records(state, eval_rows, real, control)
    out["seconds"] = round(time.time() - t0, 3)
    for key in ("logodds", "iia", "control_logodds", "selectivity", "selectivity_abs"):
        if out[key] is not None and not math.isfinite(out[key]):
            out[key] = None
    return out, log
