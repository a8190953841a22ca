"""``harness bench das``: a DAS layer sweep, our cached interchange engine vs pyvene, side by side.

Both sides train the same thing on the same data: DAS (a rank-``k`` rotated subspace) at one
token position (the subject of CausalGym's ``agr_number_pp`` pairs, sampled from our shipped
templates) of each site in ``--layers``, with the same seeded initial rotation, the same
mini-batches (:func:`harness.interventions.training.batches`), Adam at the same rate with the
same warm-up/decay schedule and the same number of steps, then score the held-out pairs.

* ours: :func:`harness.interventions.train` on a :class:`~harness.interventions.CachedProblem`
  (the adapter's interchange engine: clean runs once, then only the blocks above the site and
  the positions from the intervention on);
* pyvene: ``IntervenableModel`` with ``LowRankRotatedSpaceIntervention`` on ``block_output`` of
  layer ``site - 1`` (our site ``s`` is the output of block ``s``), on the same HF model object,
  trained with the same loop as ours.

Per site the two sides run one after the other (ours, then pyvene) so load hits both alike.
Reported: seconds, the final training loss (all training pairs, trained rotation, untimed),
the held-out log-odds effect and IIA of each side, and the ratio. pyvene comes from the
optional ``bench`` extra; without it the command exits 2 and names the install command.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

PYVENE_VERSION = "0.1.8"
#: The registered benchmark and task whose pairs the bench trains on (reached through the registry).
PAIRS_BENCHMARK, PAIRS_TASK = "causalgym", "agr_number_pp"
BOS_TEXT = "<|endoftext|>"
TARGET = "a 5-layer DAS sweep >= 4x faster than pyvene at equal final loss"


def require_pyvene() -> Any:
    """The pyvene module, or a user error (exit 2) naming the install command."""
    from harness.extras import install_command
    from harness.pluginmanager import BUILTIN_DIST
    from harness.tasks import TaskConfigError

    try:
        import pyvene
    except Exception as err:  # noqa: BLE001 - missing, or broken by an incompatible dependency
        raise TaskConfigError(f"harness bench das compares against pyvene=={PYVENE_VERSION}, which cannot be imported "
                              f"({type(err).__name__}: {err}); install with: {install_command(BUILTIN_DIST, 'bench')}") from None
    return pyvene


@dataclass
class Workload:
    """Tokenised pairs of one split: right-padded batches, one position per pair, label tokens."""

    base: Any  # TokenBatch
    src: Any
    base_pos: Any  # (B,) long
    src_pos: Any
    base_label: Any  # (B,) first token of each label
    src_label: Any

    def __len__(self) -> int:
        return len(self.base)


def encode_pairs(tokenizer: Any, pairs: Sequence[Any], span: int, pad_id: int) -> Workload:
    """Pairs with aligned text spans (``.base``/``.src``) and labels: ids, the last token of
    span ``span`` on each side, and each label's first token."""
    import torch

    from harness.interventions import TokenBatch, encode, span_end_positions

    known = set(getattr(tokenizer, "all_special_tokens", []) or []) | set(tokenizer.get_added_vocab())
    bos = BOS_TEXT if BOS_TEXT in known else (tokenizer.bos_token or "")

    def side(spans_of: Callable[[Any], Sequence[str]]) -> tuple[Any, Any]:
        spans = [[s.replace(BOS_TEXT, bos) for s in spans_of(p)] for p in pairs]
        ids, offsets = encode(tokenizer, ["".join(s) for s in spans])
        pos = [span_end_positions(o, s)[span] for o, s in zip(offsets, spans)]
        if any(p is None for p in pos):
            raise ValueError(f"span {span} is empty in some pair; the bench needs one position in every pair")
        return TokenBatch.from_ids(ids, pad_id=pad_id), torch.tensor(pos)

    def first(label: str) -> int:
        return int(tokenizer(label, add_special_tokens=False)["input_ids"][0])

    (base, bpos), (src, spos) = side(lambda p: p.base), side(lambda p: p.src)
    return Workload(base, src, bpos, spos, torch.tensor([first(p.base_label) for p in pairs]),
                    torch.tensor([first(p.src_label) for p in pairs]))


def pairs_workload(pm: Any, tokenizer: Any, pad_id: int, n_train: int, n_eval: int, seed: int = 0) -> tuple[Workload, Workload, str]:
    """(train, eval, description) from the registered pairs benchmark's own sampler and template."""
    from harness.tasks import TaskConfigError

    spec = pm.registry().benchmarks.get(PAIRS_BENCHMARK)
    if spec is None:
        raise TaskConfigError(f"harness bench das trains on {PAIRS_BENCHMARK} pairs, but no plugin registers that benchmark")
    bench = spec.load()(tasks=[PAIRS_TASK], n_train=n_train, n_eval=n_eval)
    train, evals = bench.pairs_for(PAIRS_TASK, seed)
    span = bench.template_of(PAIRS_TASK).first_label_span
    desc = f"{PAIRS_BENCHMARK} {PAIRS_TASK}: {n_train} train / {n_eval} eval pairs (seed {seed}), position = last token of span {span}"
    return encode_pairs(tokenizer, train, span, pad_id), encode_pairs(tokenizer, evals, span, pad_id), desc


def log_odds(logits: Any, first: Any, second: Any) -> Any:
    """log p(first) - log p(second) per row of (B, V) logits."""
    import torch

    lp = torch.log_softmax(logits.float(), dim=-1)
    rows = torch.arange(lp.shape[0])
    return lp[rows, first] - lp[rows, second]


def _scores(logits: Any, clean: Any, ev: Workload) -> dict[str, float]:
    """Held-out log-odds effect (intervened minus clean, source over base label) and IIA."""
    after = log_odds(logits, ev.src_label, ev.base_label)
    return {"logodds": float((after - log_odds(clean, ev.src_label, ev.base_label)).mean()),
            "iia": float((after > 0).float().mean())}


class Ours:
    """The harness side: clean runs once (``setup``), then DAS per site through CachedProblem."""

    def __init__(self, adapter: Any, train: Workload, ev: Workload, sites: Sequence[int]):
        self.engine, self.train, self.ev, self.sites = adapter.interchange_engine(), train, ev, list(sites)

    def setup(self) -> None:
        e = self.engine
        self.runs = [e.run(b, sites=self.sites) for b in (self.train.base, self.train.src, self.ev.base, self.ev.src)]
        self.clean = e.clean_logits(self.runs[2])

    def layer(self, site: int, init: Any, cfg: Any) -> tuple[dict[str, float], Callable[[], float]]:
        import torch

        from harness.interventions import CachedProblem, RotatedSubspace, train
        from harness.interventions.training import cross_entropy_loss

        tr_b, tr_s, ev_b, ev_s = self.runs
        problem = CachedProblem.build(self.engine, tr_b, tr_s, site, self.train.base_pos, self.train.src_pos, self.train.src_label)
        module = RotatedSubspace(init.shape[1], rank=init.shape[0], init=init, seed=cfg.seed)
        log = train(problem, module, cfg)
        with torch.no_grad():
            out = CachedProblem.build(self.engine, ev_b, ev_s, site, self.ev.base_pos, self.ev.src_pos).logits(module)
        result = {**_scores(out, self.clean, self.ev), "last_step_loss": log.losses[-1]}

        def final_loss() -> float:
            with torch.no_grad():
                return float(cross_entropy_loss(problem.logits(module), self.train.src_label))

        return result, final_loss


class Pyvene:
    """The pyvene side: IntervenableModel + LowRankRotatedSpaceIntervention, our training loop."""

    def __init__(self, pv: Any, model: Any, train: Workload, ev: Workload):
        self.pv, self.model, self.train, self.ev = pv, model, train, ev

    def setup(self) -> None:
        import torch

        b = self.ev.base
        with torch.no_grad():
            logits = self.model(input_ids=b.input_ids, attention_mask=b.attention_mask).logits
        self.clean = logits[torch.arange(len(b)), b.last_positions]

    def _logits(self, iv: Any, wl: Workload, rows: Any) -> Any:
        import torch

        b, s = wl.base.select(rows), wl.src.select(rows)
        locations = {"sources->base": ([[[int(p)] for p in wl.src_pos[rows]]], [[[int(p)] for p in wl.base_pos[rows]]])}
        _, out = iv({"input_ids": b.input_ids, "attention_mask": b.attention_mask},
                    [{"input_ids": s.input_ids, "attention_mask": s.attention_mask}], locations)
        return out.logits[torch.arange(len(b)), b.last_positions]

    def layer(self, site: int, init: Any, cfg: Any) -> tuple[dict[str, float], Callable[[], float]]:
        import torch

        from harness.interventions.training import batches, cross_entropy_loss, linear_warmup_decay

        pv = self.pv
        config = pv.IntervenableConfig(
            representations=[pv.RepresentationConfig(site - 1, "block_output", "pos", 1, low_rank_dimension=init.shape[0])],
            intervention_types=pv.LowRankRotatedSpaceIntervention)
        iv = pv.IntervenableModel(config, model=self.model)
        iv.disable_model_gradients()
        (intervention,) = [v[0] if isinstance(v, tuple) else v for v in iv.interventions.values()]
        # Assigning runs the orthogonal parametrisation's right inverse, which completes the rows to
        # a d x d base with random columns: seeded as RotatedSubspace seeds it, so the bases agree.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            intervention.rotate_layer.weight = init.T.clone()
        params = list(iv.get_trainable_parameters())
        steps = batches(len(self.train), cfg)
        opt = torch.optim.Adam(params, lr=cfg.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, linear_warmup_decay(len(steps), cfg.warmup))
        loss = torch.zeros(())
        for rows in steps:
            rows_t = torch.tensor(rows)
            loss = cross_entropy_loss(self._logits(iv, self.train, rows_t), self.train.src_label[rows_t])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            out = self._logits(iv, self.ev, torch.arange(len(self.ev)))
        result = {**_scores(out, self.clean, self.ev), "last_step_loss": float(loss.detach())}

        def final_loss() -> float:
            with torch.no_grad():
                return float(cross_entropy_loss(self._logits(iv, self.train, torch.arange(len(self.train))), self.train.src_label))

        return result, final_loss


def initial_rotation(hidden_size: int, rank: int, seed: int) -> Any:
    """The seeded (rank, d) orthonormal rows both sides start from."""
    from harness.interventions import RotatedSubspace

    return RotatedSubspace(hidden_size, rank=rank, seed=seed).rows.detach().clone()


def sweep(sides: dict[str, Any], sites: Sequence[int], init: Any, cfg: Any, repeats: int = 1,
          progress: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Time ``setup`` and every site of each side, interleaved; medians over ``repeats``."""
    setup: dict[str, list[float]] = {k: [] for k in sides}
    times: dict[int, dict[str, list[float]]] = {s: {k: [] for k in sides} for s in sites}
    results: dict[int, dict[str, dict[str, float]]] = {s: {} for s in sites}
    for rep in range(repeats):
        for name, side in sides.items():
            t0 = time.perf_counter()
            side.setup()
            setup[name].append(time.perf_counter() - t0)
        for site in sites:
            for name, side in sides.items():
                t0 = time.perf_counter()
                res, final_loss = side.layer(site, init, cfg)
                times[site][name].append(time.perf_counter() - t0)
                results[site][name] = {**res, "final_loss": final_loss()}  # untimed
            progress(f"repeat {rep + 1}/{repeats} site {site}: " + ", ".join(
                f"{k} {times[site][k][-1]:.1f} s loss {results[site][k]['final_loss']:.4f}" for k in sides))
    med = {s: {k: statistics.median(v) for k, v in d.items()} for s, d in times.items()}
    setup_med = {k: statistics.median(v) for k, v in setup.items()}
    return {"setup_seconds": setup_med, "seconds": med, "results": results}


def bench_das(adapter: Any, pm: Any, layers: Sequence[int], n_train: int = 64, n_eval: int = 32, steps: int = 40,
              batch_size: int = 16, lr: float = 5e-3, rank: int = 1, repeats: int = 1, seed: int = 0,
              progress: Callable[[str], None] = lambda line: None, pv: Any = None,
              workload: tuple[Workload, Workload, str] | None = None) -> dict[str, Any]:
    """The whole comparison as a JSON-ready report (``workload`` overrides the registry's pairs)."""
    from harness.interventions import TrainConfig

    pv = pv or require_pyvene()
    sites = [int(s) for s in layers]
    bad = [s for s in sites if not 1 <= s <= adapter.num_layers]
    if bad:
        from harness.tasks import TaskConfigError

        raise TaskConfigError(f"--layers {bad}: sites must be block outputs 1..{adapter.num_layers} of this model")
    train, ev, desc = workload or pairs_workload(pm, adapter.tokenizer, adapter.pad_token_id, n_train, n_eval, seed)
    cfg = TrainConfig(lr=lr, batch_size=batch_size, steps=steps, warmup=0.1, seed=seed)
    init = initial_rotation(adapter.hidden_size, rank, seed)
    sides = {"ours": Ours(adapter, train, ev, sites), "pyvene": Pyvene(pv, adapter.model, train, ev)}
    out = sweep(sides, sites, init, cfg, repeats, progress)
    per_layer: dict[str, dict[str, Any]] = {}
    for s in sites:
        sec, res = out["seconds"][s], out["results"][s]
        row: dict[str, Any] = {"ours_seconds": round(sec["ours"], 3), "pyvene_seconds": round(sec["pyvene"], 3),
                               "speedup": round(sec["pyvene"] / sec["ours"], 3)}
        for key in ("final_loss", "last_step_loss", "logodds", "iia"):
            row.update({f"ours_{key}": round(res["ours"][key], 5), f"pyvene_{key}": round(res["pyvene"][key], 5)})
        per_layer[f"site {s}"] = row
    setup = out["setup_seconds"]
    total = {k: setup[k] + sum(out["seconds"][s][k] for s in sites) for k in sides}
    loss_diff = max(abs(out["results"][s]["ours"]["final_loss"] - out["results"][s]["pyvene"]["final_loss"]) for s in sites)
    speedup = total["pyvene"] / total["ours"]
    return {
        "workload": desc, "model_layers": adapter.num_layers, "sites": sites,
        "site_convention": "site s = output of block s (1-based) = pyvene block_output of layer s-1",
        "rank": rank, "steps": steps, "batch_size": batch_size, "lr": lr, "warmup": 0.1, "optimizer": "Adam",
        "seed": seed, "repeats": repeats, "pyvene_version": getattr(pv, "__version__", None) or _version("pyvene"),
        "pyvene_intervention": "LowRankRotatedSpaceIntervention",
        "final_loss": "cross-entropy over all training pairs with the trained rotation (untimed)",
        "per_layer": per_layer,
        "total": {"ours_seconds": round(total["ours"], 2), "pyvene_seconds": round(total["pyvene"], 2),
                  "ours_setup_seconds": round(setup["ours"], 3), "pyvene_setup_seconds": round(setup["pyvene"], 3),
                  "speedup": round(speedup, 3), "max_abs_final_loss_diff": round(loss_diff, 5)},
        "target": TARGET, "target_met": bool(speedup >= 4 and loss_diff <= 0.05 and len(sites) >= 5),
    }


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def print_das(r: dict[str, Any]) -> None:
    print(f"das: {r['workload']}; DAS rank {r['rank']}, {r['steps']} steps of batch {r['batch_size']}, Adam {r['lr']} "
          f"(median of {r['repeats']}); pyvene {r['pyvene_version']}")
    print(f"  {'site':<8} {'ours s':>8} {'pyvene s':>9} {'speedup':>8} {'loss ours':>10} {'loss pyvene':>12} "
          f"{'log-odds ours':>14} {'log-odds pyvene':>16} {'IIA ours':>9} {'IIA pyvene':>11}")
    for name, row in r["per_layer"].items():
        print(f"  {name:<8} {row['ours_seconds']:>8.2f} {row['pyvene_seconds']:>9.2f} {row['speedup']:>8.2f} "
              f"{row['ours_final_loss']:>10.4f} {row['pyvene_final_loss']:>12.4f} {row['ours_logodds']:>14.3f} "
              f"{row['pyvene_logodds']:>16.3f} {row['ours_iia']:>9.2f} {row['pyvene_iia']:>11.2f}")
    t = r["total"]
    print(f"  total: ours {t['ours_seconds']:.1f} s (clean runs {t['ours_setup_seconds']:.1f} s), pyvene {t['pyvene_seconds']:.1f} s "
          f"-> {t['speedup']:.2f}x; largest |final loss ours - pyvene| {t['max_abs_final_loss_diff']:.2e}; "
          f"target ({r['target']}): {'met' if r['target_met'] else 'not met'}")
