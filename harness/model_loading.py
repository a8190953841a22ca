"""Build the adapter a run names: ``--model`` and ``--model-args`` resolved through the
registry, the arguments typed by the adapter's own signature before any weights load, the
request cache wrapped around it. (Part of the runner's API: ``harness.runner`` re-exports it.)"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.distributed import current as current_dist
from harness.isolation import describe

if TYPE_CHECKING:  # pragma: no cover
    from harness.pluginmanager import PluginManager
    from harness.runner import RunConfig


def _is_model_path(name: str) -> bool:
    """An embedded model's name or an existing local model folder."""
    from harness.models.embedded import EMBEDDED

    return name in EMBEDDED or (Path(name) / "config.json").exists()


def load_model(cfg: RunConfig, pm: PluginManager) -> Any:
    """The adapter ``cfg`` names, its arguments checked before any weights are read."""
    return load_model_with_args(cfg, pm)[0]


def load_model_with_args(cfg: RunConfig, pm: PluginManager) -> tuple[Any, dict[str, Any]]:
    """The adapter, and its arguments as typed by its own signature (checked before any weights load)."""
    from harness.options import OptionError
    from harness.runner import RunError

    registry = pm.registry()
    name, args = cfg.model, dict(cfg.model_args)
    if name not in registry.models and "hf" in registry.models and "pretrained" not in args and _is_model_path(name):
        name, args = "hf", {"pretrained": cfg.model, **args}  # `--model smollm2-135m` means the hf adapter
    if name not in registry.models:
        raise RunError(f"unknown model adapter {cfg.model!r} (registered: {', '.join(sorted(registry.models)) or 'none'}); "
                       f"for a model by name or path use --model hf --model-args pretrained=NAME_OR_PATH")
    if cfg.batch_size is not None:
        args["batch_size"] = cfg.batch_size
    try:
        factory = registry.models[name].load()
    except Exception as err:  # noqa: BLE001
        raise RunError(f"--model {cfg.model}: the adapter of plugin {registry.models[name].plugin!r} cannot be imported: {describe(err)}") from None
    from harness.models.args import bind_model_args, model_options

    dist = current_dist()
    if dist.world > 1 and "device" not in args and "device" in model_options(factory):
        import torch

        if torch.cuda.is_available():
            args["device"] = f"cuda:{dist.local_rank}"  # one GPU per process
    try:
        typed = bind_model_args(name, factory, args, registry.decoders)
    except OptionError as err:
        raise RunError(str(err)) from None
    if cfg.cache_requests:
        check_cache_file(Path(cfg.cache_requests))
    try:
        adapter = factory(**typed)
    except OptionError as err:
        raise RunError(str(err)) from None
    except (TypeError, ValueError) as err:
        raise RunError(f"--model {cfg.model} --model-args: {err}") from None
    if cfg.cache_requests:
        from harness.models.cache import CachingAdapter

        adapter = CachingAdapter(adapter, Path(cfg.cache_requests))
    return adapter, typed


def check_cache_file(path: Path) -> None:
    """A --cache-requests file must be a SQLite database (or not exist yet)."""
    from harness.runner import RunError

    if path.is_dir():
        raise RunError(f"--cache-requests {path}: is a folder, expected a file")
    if not path.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            db.execute("SELECT name FROM sqlite_master").fetchall()
    except sqlite3.Error as err:
        raise RunError(f"--cache-requests {path}: not a request cache ({err}); delete it or choose another file") from None
