"""Is a plugin's optional-dependency extra installed?

A distribution may declare an extra named after a plugin's entry point (``interp-harness``
declares ``[mquake]``, ``[llm_usage]``, ...). When some requirement of that extra is missing,
the plugin is listed as *unavailable* with the exact install command instead of failing on
first use; every other plugin keeps working. This works for any distribution, built-in or not.
"""

from __future__ import annotations

from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def _extra_requirements(dist: metadata.Distribution, extra: str) -> list[Requirement] | None:
    """The requirements of ``extra`` (None when the distribution declares no such extra)."""
    wanted = canonicalize_name(extra)
    provided = {canonicalize_name(e) for e in (dist.metadata.get_all("Provides-Extra") or [])}
    if wanted not in provided:
        return None
    reqs = []
    for line in dist.requires or []:
        req = Requirement(line)
        if req.marker is not None and req.marker.evaluate({"extra": wanted}) and not req.marker.evaluate({"extra": ""}):
            reqs.append(req)
    return reqs


def _satisfied(req: Requirement, seen: frozenset[str]) -> bool:
    try:
        version = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        return False
    if req.specifier and not req.specifier.contains(version, prereleases=True):
        return False
    if req.extras and canonicalize_name(req.name) not in seen:  # e.g. interp-harness[a,b] from [all]
        dist = metadata.distribution(req.name)
        return all(not missing_for_extra(dist, e, seen | {canonicalize_name(req.name)}) for e in req.extras)
    return True


def missing_for_extra(dist: metadata.Distribution, extra: str, seen: frozenset[str] = frozenset()) -> list[str]:
    """Requirements of ``dist[extra]`` that are not installed (empty when all are, or no such extra)."""
    reqs = _extra_requirements(dist, extra)
    return [f"{r.name}{r.specifier}" for r in reqs or [] if not _satisfied(r, seen)]


def install_command(dist_name: str, extra: str) -> str:
    return f'pip install "{dist_name}[{extra}]"'
