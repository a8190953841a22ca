"""CPU threads for torch: a fixed ``--threads N``, or ``auto`` = the usable cores not already busy.

Why: torch's default is one thread per core, and its worker threads spin-wait for each other.
When other processes load the cores, a thread that is descheduled stalls every parallel region,
and a run slows down many times more than its share of the CPU (the default suite took 11x
longer beside two busy processes on 2 cores). ``auto`` measures what other processes use over a
short window (``/proc/stat``, minus this process's own CPU time) and takes the free cores, at
least one; the runner re-checks before each task. The same policy limits numpy's BLAS pool when
threadpoolctl is installed.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

AUTO = "auto"
WINDOW_S = 0.2  # the /proc/stat sample; short enough to re-check before every task


@dataclass
class ThreadChoice:
    """What ``apply`` chose, for the results file and bench JSONs."""

    setting: int | str  # "auto" or the fixed N asked for
    threads: int
    cores: int  # usable by this process (CPU affinity)
    busy_cores: float | None  # other processes' use of those cores, measured for "auto"
    loadavg: list[float] | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_setting: int | str = AUTO
_last: tuple[float, float, float, float] | None = None  # (busy jiffies, total jiffies, own CPU s, time) of the last reading


def parse_setting(value: Any, what: str = "--threads") -> int | str:
    """``auto`` or a positive integer; anything else raises ValueError naming ``what``."""
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} {value!r}: expected a positive number of threads or 'auto'")
    return value


def usable_cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_times(cores: list[int]) -> tuple[float, float] | None:
    """(busy, total) jiffies summed over ``cores`` from /proc/stat, or None where there is none."""
    wanted = {f"cpu{c}" for c in cores}
    busy = total = 0.0
    try:
        with open("/proc/stat", encoding="utf-8") as fh:
            for line in fh:
                name, *fields = line.split()
                if name in wanted:
                    values = [float(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
                    total += sum(values)
                    busy += sum(values) - values[3] - values[4]
    except (OSError, ValueError, IndexError):
        return None
    return (busy, total) if total else None


def busy_cores(cores: list[int] | None = None, window: float = WINDOW_S) -> float | None:
    """Cores' worth of CPU that *other* processes used over ``window`` seconds (None without /proc/stat)."""
    cores = cores or usable_cores()
    first = _cpu_times(cores)
    if first is None:
        return None
    own0, t0 = _own_cpu(), time.perf_counter()
    time.sleep(window)
    second = _cpu_times(cores)
    own, wall = _own_cpu() - own0, time.perf_counter() - t0
    if second is None or second[1] <= first[1]:
        return None
    fraction = (second[0] - first[0]) / (second[1] - first[1])
    others = fraction * len(cores) - own / wall
    return round(max(0.0, min(float(len(cores)), others)), 2)


def busy_since_last(min_interval: float = 1.0) -> float | None:
    """Other processes' use of the usable cores since the previous call (no waiting), or None
    on the first call, within ``min_interval`` seconds of the last reading, or without /proc/stat."""
    global _last
    cores = usable_cores()
    now = _cpu_times(cores)
    if now is None:
        return None
    reading = (now[0], now[1], _own_cpu(), time.perf_counter())
    last = _last
    if last is not None and reading[3] - last[3] < min_interval:
        return None
    _last = reading
    if last is None or reading[1] <= last[1]:
        return None
    fraction = (reading[0] - last[0]) / (reading[1] - last[1])
    others = fraction * len(cores) - (reading[2] - last[2]) / (reading[3] - last[3])
    return round(max(0.0, min(float(len(cores)), others)), 2)


def recheck() -> ThreadChoice | None:
    """Between batches of a task: under ``auto``, follow the load seen since the last reading
    (free: no sampling window); returns the new choice when the thread count changed."""
    if _setting != AUTO or len(usable_cores()) < 2:
        return None
    busy = busy_since_last()
    if busy is None:
        return None
    threads = auto_threads(len(usable_cores()), busy)
    torch = sys.modules.get("torch")
    if torch is None or torch.get_num_threads() == threads:
        return None
    set_threads(threads)
    return ThreadChoice(setting=AUTO, threads=threads, cores=len(usable_cores()), busy_cores=busy, loadavg=loadavg())


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def auto_threads(cores: int, busy: float | None) -> int:
    """The free cores (a core counts as busy from half its time), at least one."""
    if busy is None:
        load = loadavg()
        busy = max(0.0, load[0] - 1.0) if load else 0.0  # the 1-minute average includes this process
    return max(1, min(cores, cores - int(busy + 0.5)))


def choose(setting: int | str) -> ThreadChoice:
    """The thread count for ``setting``; under ``auto`` the load comes from the interval since the
    last reading (e.g. the previous task: a long window that costs no waiting) when it spans at
    least a second, else from a fresh ``WINDOW_S`` sample."""
    cores = usable_cores()
    busy = None
    if setting == AUTO and len(cores) > 1:
        busy = busy_since_last()
        if busy is None:
            busy = busy_cores(cores)
    threads = auto_threads(len(cores), busy) if setting == AUTO else int(setting)
    return ThreadChoice(setting=setting, threads=threads, cores=len(cores), busy_cores=busy, loadavg=loadavg())


def configure(setting: Any = AUTO) -> ThreadChoice:
    """Set the process's policy (``auto`` or N) and apply it now."""
    global _setting
    _setting = parse_setting(setting, "threads=")
    return apply()


def apply() -> ThreadChoice:
    """Re-evaluate the current policy and set torch's (and BLAS's) thread count."""
    choice = choose(_setting)
    set_threads(choice.threads)
    busy_since_last(0.0)  # start the interval that recheck() measures
    return choice


def set_threads(n: int) -> None:
    torch = sys.modules.get("torch")  # not imported yet: the runner applies again once a model is loaded
    if torch is not None:

        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=n, user_api="blas")


def machine() -> dict[str, Any]:
    """CPU model, usable cores and load average: recorded next to every timing."""
    return {"cpu_model": cpu_model(), "cores": len(usable_cores()), "loadavg": loadavg()}
