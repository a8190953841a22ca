"""Find, load and isolate plugins; collect their registrations.

Plugins come from the ``harness.plugins`` entry-point group (built-ins included), from
``--plugin module.path``, or are blocked with ``-p no:NAME``. ``HARNESS_DISABLE_PLUGIN_AUTOLOAD=1``
turns entry-point discovery off (explicit ``--plugin`` modules still load). A plugin that
fails to import, needs a newer hook API, or returns malformed registrations is recorded
with its error; every other plugin keeps working.
"""

from __future__ import annotations

import importlib
import os
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

import pluggy

from harness import hookspecs
from harness.registry import BenchmarkSpec, DecoderSpec, ModelSpec, Registry, RegistrationError, check_spec

AUTOLOAD_ENV = "HARNESS_DISABLE_PLUGIN_AUTOLOAD"


@dataclass
class PluginInfo:
    name: str
    module: str
    origin: str  # "entry point (dist x.y)", "--plugin"
    version: str = ""
    status: str = "ok"  # ok | failed | blocked
    error: str = ""


@dataclass
class PluginManager:
    """A pluggy manager plus what the harness knows about each plugin."""

    pm: pluggy.PluginManager = field(default_factory=lambda: _new_pm())
    infos: dict[str, PluginInfo] = field(default_factory=dict)
    _registry: Registry | None = None

    @property
    def hook(self) -> Any:
        return self.pm.hook

    # -- loading --------------------------------------------------------------------------
    def load(self, extra_modules: Iterable[str] = (), blocked: Iterable[str] = (), autoload: bool | None = None) -> PluginManager:
        blocked = set(blocked)
        if autoload is None:
            autoload = os.environ.get(AUTOLOAD_ENV, "").strip().lower() not in ("1", "true", "yes")
        if autoload:
            for ep in sorted(metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=lambda e: e.name):
                if ep.name in self.infos:
                    continue
                dist = getattr(ep, "dist", None)
                version = dist.version if dist is not None else ""
                origin = f"entry point ({dist.name} {version})" if dist is not None else "entry point"
                self._load_one(ep.name, ep.value, origin, version, blocked)
        for module_path in extra_modules:
            self._load_one(module_path, module_path, "--plugin", "", blocked)
        return self

    def _load_one(self, name: str, module_path: str, origin: str, version: str, blocked: set[str]) -> None:
        info = PluginInfo(name=name, module=module_path, origin=origin, version=version)
        self.infos[name] = info
        if name in blocked:
            info.status = "blocked"
            return
        try:
            module = importlib.import_module(module_path.partition(":")[0])
            _check_api_version(name, module)
            if not info.version:
                info.version = str(getattr(module, "__version__", ""))
            self.pm.register(module, name=name)
        except Exception as err:  # noqa: BLE001 - isolate any plugin failure
            info.status, info.error = "failed", _describe(err)

    def register_object(self, obj: ModuleType | object, name: str, origin: str = "python") -> None:
        """Register an in-process plugin object (Python API and tests)."""
        self.infos[name] = PluginInfo(name=name, module=getattr(obj, "__name__", repr(obj)), origin=origin)
        _check_api_version(name, obj)
        self.pm.register(obj, name=name)
        self._registry = None

    # -- registrations --------------------------------------------------------------------
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = self._collect()
        return self._registry

    def _collect(self) -> Registry:
        reg = Registry()
        targets = (
            ("harness_register_benchmarks", BenchmarkSpec, reg.benchmarks),
            ("harness_register_models", ModelSpec, reg.models),
            ("harness_register_decoders", DecoderSpec, reg.decoders),
        )
        for hook_name, kind, table in targets:
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                plugin = impl.plugin_name
                try:
                    specs = impl.function()
                    if specs is None:
                        continue
                    if not isinstance(specs, (list, tuple)):
                        raise RegistrationError(f"plugin {plugin!r}: {hook_name} must return a list, got {type(specs).__name__}")
                    checked = [check_spec(s, kind, plugin) for s in specs]
                except Exception as err:  # noqa: BLE001
                    self._fail(plugin, err)
                    continue
                for spec in checked:
                    if spec.name in table:
                        other = table[spec.name].plugin
                        self._fail(plugin, RegistrationError(f"{kind.__name__} {spec.name!r} is already registered by plugin {other!r}"))
                        continue
                    table[spec.name] = _with_plugin(spec, plugin)
        return reg

    def _fail(self, plugin: str, err: BaseException) -> None:
        info = self.infos.setdefault(plugin, PluginInfo(name=plugin, module="?", origin="?"))
        info.status = "failed"
        info.error = (info.error + "; " if info.error else "") + _describe(err)

    def task_paths(self) -> list[Path]:
        paths: list[Path] = []
        for impl in self.pm.hook.harness_task_paths.get_hookimpls():
            try:
                paths.extend(Path(p) for p in (impl.function() or []))
            except Exception as err:  # noqa: BLE001
                self._fail(impl.plugin_name, err)
        return paths

    def failures(self) -> list[PluginInfo]:
        return [i for i in self.infos.values() if i.status == "failed"]


def _new_pm() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def _with_plugin(spec: Any, plugin: str) -> Any:
    from dataclasses import replace

    return replace(spec, plugin=plugin)


def _check_api_version(name: str, module: object) -> None:
    needed = getattr(module, "HARNESS_API_VERSION", None)
    if needed is None:
        return
    have_major, have_minor = (int(x) for x in hookspecs.API_VERSION.split("."))
    try:
        major, minor = (int(x) for x in str(needed).split(".")[:2])
    except ValueError as err:
        raise RegistrationError(f"plugin {name!r}: HARNESS_API_VERSION {needed!r} is not 'MAJOR.MINOR'") from err
    if major != have_major or minor > have_minor:
        raise RegistrationError(
            f"plugin {name!r} needs harness plugin API {needed}, but this harness provides {hookspecs.API_VERSION}; "
            f"upgrade the harness (pip install -U interp-harness) or use a release of the plugin made for API {hookspecs.API_VERSION}"
        )


def _describe(err: BaseException) -> str:
    if isinstance(err, (ImportError, RegistrationError)):
        return f"{type(err).__name__}: {err}"
    tb = traceback.extract_tb(err.__traceback__)
    where = f" (at {tb[-1].filename}:{tb[-1].lineno})" if tb else ""
    return f"{type(err).__name__}: {err}{where}"
