"""How a run was made, from its results file: the command, model, versions, limit, time.

Each fact is a :class:`Fact` that is either known or says ``unknown``: results files written
by older harness versions lack fields, and the viewer must never guess them. The command is
the one the file recorded, or else rebuilt from its saved configuration (and labelled so).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from harness.leaderboard.collect import RunFile
from harness.results import stable_hash

#: Names the effective-configuration block may have in a results file (newest first).
EFFECTIVE_KEYS = ("effective", "effective_config")


@dataclass
class Fact:
    label: str
    value: Any  # None: unknown
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "value": self.value, "known": self.value is not None, "note": self.note}


@dataclass
class Provenance:
    command: Fact
    facts: list[Fact]
    limit: int | None
    limited: bool | None  # None: the file does not say
    compared: dict[str, Any] = field(default_factory=dict)  # the fields a comparison checks

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command.to_json(), "facts": [f.to_json() for f in self.facts],
                "limit": self.limit, "limited": self.limited}


def effective_block(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The run's effective configuration (dtype, device, versions, digest...), when the file has one."""
    for key in EFFECTIVE_KEYS:
        for where in (doc, _dict(doc.get("config"))):
            if isinstance(where.get(key), dict):
                return where[key]
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def provenance_of(doc: dict[str, Any], run: RunFile) -> Provenance:
    config: dict[str, Any] | None = doc["config"] if isinstance(doc.get("config"), dict) else None
    env = _dict(doc.get("environment"))
    packages = _dict(env.get("packages"))
    effective = effective_block(doc) or {}
    model = run.model_info
    model_args = effective.get("model_args", (config or {}).get("model_args", model.get("args")))
    has_limit = config is not None and "limit" in config
    limit = (config or {}).get("limit") if has_limit else None
    limited = (limit is not None) if has_limit else None
    fingerprint = model.get("fingerprint") or None
    git = env.get("git_hash") or None
    facts = [
        Fact("model", run.model),
        Fact("adapter", model.get("adapter") or (config or {}).get("model")),
        Fact("model arguments", _kv(model_args) if isinstance(model_args, dict) else None,
             "effective (after defaults)" if "model_args" in effective else "as given"),
        Fact("model fingerprint", fingerprint),
        Fact("limit", (f"{limit} samples per task (a limited run)" if limited else "none (every sample)") if has_limit else None),
        Fact("seed", (config or {}).get("seed")),
        Fact("batch size", _batch_size(config, effective)),
        Fact("wall time", f"{doc['wall_seconds']:.1f} s" if isinstance(doc.get("wall_seconds"), (int, float)) else None),
        Fact("created", doc.get("created") if isinstance(doc.get("created"), str) else None),
        Fact("harness version", packages.get("interp-harness")),
        Fact("git commit", git, "uncommitted changes were present" if isinstance(git, str) and git.endswith("-dirty") else ""),
        Fact("python", env.get("python")),
        Fact("platform", env.get("platform")),
        Fact("packages", ", ".join(f"{k} {v}" for k, v in packages.items()) if packages else None),
    ]
    used = effective_fields(effective)
    facts += [Fact(f"effective {k}", _text(v)) for k, v in used.items()]
    if isinstance(effective.get("digest"), str):
        facts.append(Fact("effective configuration digest", effective["digest"]))
    compared = {
        "model": run.model,
        "model fingerprint": fingerprint,
        "model arguments": model_args,
        "limit": (limit if limited else "none") if has_limit else None,  # None: unknown
        "seed": (config or {}).get("seed"),
        "harness version": packages.get("interp-harness"),
        "git commit": git,
        **{f"effective {k}": v for k, v in used.items()},
    }
    return Provenance(_command(doc, config, run), facts, limit, limited, compared)


def effective_fields(effective: dict[str, Any]) -> dict[str, Any]:
    """What the model actually ran with (device, dtype, resolved batch size, decoding...), the
    harness and plugin versions, and the git commit, from an ``effective_config`` block.

    The block's ``run`` part repeats the saved configuration (shown and compared already) and
    its digest covers the output folder too, so neither is compared field by field.
    """
    out: dict[str, Any] = {}
    model = _dict(effective.get("model"))
    for key, value in model.items():
        if key == "batch_size" and isinstance(value, dict):
            out["batch size (resolved)"] = value.get("resolved")
            out["batch size (requested)"] = value.get("requested")
        elif key not in ("name", "source"):
            out[key] = value
    versions = _dict(effective.get("versions"))
    if "harness" in versions:
        out["harness version"] = versions["harness"]
    for name, version in _dict(versions.get("plugins")).items():
        out[f"plugin {name} version"] = version
    if "git_hash" in effective:
        out["git commit"] = effective["git_hash"]
    for key, value in effective.items():  # another harness's block: shown as it is
        if key not in ("model", "run", "versions", "git_hash", "digest", "model_args"):
            out[key] = value
    return out


def task_digest(args: Any) -> str | None:
    """A short digest of a task's configuration as its results file recorded it."""
    return None if args is None else stable_hash(args, 12)


def _command(doc: dict[str, Any], config: dict[str, Any] | None, run: RunFile) -> Fact:
    for where in (doc, config or {}, effective_block(doc) or {}):
        if isinstance(where.get("command"), str):
            return Fact("command", where["command"], "as recorded by the run")
        if isinstance(where.get("argv"), list):
            return Fact("command", shlex.join(["harness", *map(str, where["argv"])]), "as recorded by the run")
    if config is None:
        return Fact("command", None, "this results file has no saved configuration")
    parts = ["harness"]
    for path in config.get("include_paths") or []:
        parts += ["--include-path", str(path)]
    for plugin in config.get("plugins") or []:
        parts += ["--plugin", str(plugin)]
    for name in config.get("blocked") or []:
        parts += ["-p", f"no:{name}"]
    parts += ["run", "--model", str(config.get("model") or run.model_info.get("adapter") or "hf")]
    if isinstance(config.get("model_args"), dict) and config["model_args"]:
        parts += ["--model-args", _kv(config["model_args"])]
    parts += ["--tasks", ",".join(map(str, config.get("tasks") or list(run.results)))]
    for option, key in (("--batch-size", "batch_size"), ("--limit", "limit"), ("--seed", "seed"), ("--output-path", "output_path")):
        if config.get(key) is not None:
            parts += [option, str(config[key])]
    if config.get("log_samples"):
        parts.append("--log-samples")
    return Fact("command", shlex.join(parts), "rebuilt from the saved configuration")


def _batch_size(config: dict[str, Any] | None, effective: dict[str, Any]) -> Any:
    if effective.get("batch_size") is not None:
        return effective["batch_size"]
    if config is not None and "batch_size" in config:
        return "not set (the adapter's default)" if config["batch_size"] is None else config["batch_size"]
    return None


def _kv(mapping: dict[str, Any]) -> str:
    return ",".join(f"{k}={_text(v)}" for k, v in mapping.items())


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
