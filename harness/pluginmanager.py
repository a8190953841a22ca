"""Find, load and isolate plugins; collect their registrations.

Plugins come from the core's own list (:data:`CORE_PLUGINS`, always loaded, as pytest loads its
default plugins), the ``harness.plugins`` entry-point group (built-ins included), from
``--plugin module.path``, or are blocked with ``-p no:NAME``. ``HARNESS_DISABLE_PLUGIN_AUTOLOAD=1``
turns entry-point discovery off (explicit ``--plugin`` modules still load). A plugin that
fails to import, needs a newer hook API, or returns malformed registrations is recorded
with its error; every other plugin keeps working. Built-in plugins (those of the
``interp-harness`` distribution) win a name clash: a plugin that registers a built-in name
is refused as a whole and reported. Lifecycle hooks and ``harness_add_commands`` run through
:meth:`PluginManager.call`: a hook that raises is reported with its plugin's name and
disabled for the rest of the process.
"""

from __future__ import annotations

import importlib
import logging
import os
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

import pluggy

from harness import hookspecs
from harness.extras import install_command, missing_for_extra
from harness.registry import (BenchmarkSpec, DecoderSpec, FeaturizerSpec, ModelSpec, PlotSpec, Registry, RegistrationError,
                              check_spec)

#: The core's built-in plugin modules (name -> module), registered before any entry point and
#: also with autoload off. They use the hooks exactly as a plugin does; ``core`` (the ``run``,
#: ``list`` and ``plugins`` commands) cannot be blocked.
CORE_PLUGINS = {
    "core": "harness.cli",
    "bench": "harness.bench",
    "leaderboard": "harness.leaderboard_cli",
    "featurizers": "harness.featurizers_plugin",
    "viewer": "harness.viewer.plugin",
}
ESSENTIAL = {"core"}
AUTOLOAD_ENV = "HARNESS_DISABLE_PLUGIN_AUTOLOAD"
BUILTIN_DIST = "interp-harness"
log = logging.getLogger("harness")


@dataclass
class PluginInfo:
    name: str
    module: str
    origin: str  # "entry point (dist x.y)", "--plugin"
    version: str = ""
    status: str = "ok"  # ok | failed | blocked | unavailable (its extra's dependencies are missing)
    error: str = ""
    builtin: bool = False  # shipped with the harness (wins name clashes)


@dataclass
class PluginManager:
    """A pluggy manager plus what the harness knows about each plugin."""

    pm: pluggy.PluginManager = field(default_factory=lambda: _new_pm())
    infos: dict[str, PluginInfo] = field(default_factory=dict)
    _registry: Registry | None = None
    disabled: set[tuple[str, str]] = field(default_factory=set)  # (plugin, hook) turned off after raising

    @property
    def hook(self) -> Any:
        return self.pm.hook

    # -- loading --------------------------------------------------------------------------
    def load(self, extra_modules: Iterable[str] = (), blocked: Iterable[str] = (), autoload: bool | None = None) -> PluginManager:
        blocked = set(blocked)
        for name, module_path in CORE_PLUGINS.items():
            if name not in self.infos:
                self._load_one(name, module_path, "core", _core_version(), blocked - ESSENTIAL)
                self.infos[name].builtin = True
        if autoload is None:
            autoload = os.environ.get(AUTOLOAD_ENV, "").strip().lower() not in ("1", "true", "yes")
        if autoload:
            for ep in sorted(metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=lambda e: e.name):
                if ep.name in self.infos:
                    continue
                dist = getattr(ep, "dist", None)
                version = dist.version if dist is not None else ""
                origin = f"entry point ({dist.name} {version})" if dist is not None else "entry point"
                missing = missing_for_extra(dist, ep.name) if dist is not None else []
                if missing and dist is not None:
                    self.infos[ep.name] = PluginInfo(
                        name=ep.name, module=ep.value, origin=origin, version=version, status="unavailable",
                        error=f"needs {', '.join(missing)}; install with: {install_command(dist.name, ep.name)}")
                else:
                    self._load_one(ep.name, ep.value, origin, version, blocked)
                self.infos[ep.name].builtin = dist is not None and dist.name == BUILTIN_DIST
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
            ("harness_register_featurizers", FeaturizerSpec, reg.featurizers),
            ("harness_leaderboard_plots", PlotSpec, reg.plots),
        )
        intruders: dict[str, str] = {}
        for hook_name, kind, table in targets:
            for impl in sorted(getattr(self.pm.hook, hook_name).get_hookimpls(), key=self._precedence):
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
                    key = f"{plugin}:{spec.name}" if kind is PlotSpec else spec.name  # plot kinds are per plugin: no clash
                    if key in table:
                        other = table[key].plugin
                        builtin = self.infos.get(other, PluginInfo(other, "?", "?")).builtin
                        msg = f"{kind.__name__} {spec.name!r} is already registered by {'built-in ' if builtin else ''}plugin {other!r}"
                        if builtin:
                            intruders[plugin] = msg
                        self._fail(plugin, RegistrationError(msg))
                        continue
                    table[key] = _with_plugin(spec, plugin)
        for plugin, msg in intruders.items():  # refused as a whole: none of its registrations or hooks stay
            for table in reg.tables():
                for name in [n for n, s in table.items() if s.plugin == plugin]:
                    del table[name]
            if self.pm.get_plugin(plugin) is not None:
                self.pm.unregister(name=plugin)
            self.infos[plugin].error += "; refused: a plugin may not replace a built-in registration"
        return reg

    def _precedence(self, impl: Any) -> tuple[bool, str]:
        info = self.infos.get(impl.plugin_name)
        return (not (info and info.builtin), impl.plugin_name)

    # -- isolated hook calls ----------------------------------------------------------------
    def call(self, hook_name: str, **kwargs: Any) -> None:
        """Call every implementation of ``hook_name``; one that raises is reported and disabled."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            key = (impl.plugin_name, hook_name)
            if key in self.disabled:
                continue
            try:
                impl.function(*[kwargs[a] for a in impl.argnames])
            except Exception as err:  # noqa: BLE001 - a plugin's hook must never fail a task or a command
                self.disabled.add(key)
                self._fail(impl.plugin_name, err)
                log.warning("plugin %s: hook %s raised %s; disabled for this run", impl.plugin_name, hook_name, _describe(err))

    def _fail(self, plugin: str, err: BaseException) -> None:
        info = self.infos.setdefault(plugin, PluginInfo(name=plugin, module="?", origin="?"))
        info.status = "failed"
        info.error = (info.error + "; " if info.error else "") + _describe(err)

    def task_paths(self) -> list[Path]:
        self.registry()  # refuses intruders first, so their task folders are not searched
        paths: list[Path] = []
        # Built-in folders first, so a third-party or --include-path folder can override a task.
        impls = sorted(self.pm.hook.harness_task_paths.get_hookimpls(), key=lambda i: (not self._builtin(i.plugin_name), i.plugin_name))
        for impl in impls:
            try:
                found: Any = impl.function()  # a plugin's answer: iterated here, a failure is the plugin's
                paths.extend(Path(p) for p in (found or []))
            except Exception as err:  # noqa: BLE001
                self._fail(impl.plugin_name, err)
        return paths

    def _builtin(self, plugin: str) -> bool:
        info = self.infos.get(plugin)
        return bool(info and info.builtin)

    def failures(self) -> list[PluginInfo]:
        return [i for i in self.infos.values() if i.status == "failed"]

    def unavailable(self) -> list[PluginInfo]:
        return [i for i in self.infos.values() if i.status == "unavailable"]


def _core_version() -> str:
    from harness import __version__

    return __version__


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
