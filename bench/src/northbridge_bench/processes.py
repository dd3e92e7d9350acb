"""CPU and memory of each part of the stack: what an event costs, not only how fast it goes.

A part is a supervised program with all its descendants (gunicorn's workers, the rq
scheduler, the JVM under its launcher). CPU is user + system time, reaped children
included; memory is the resident set of each process, summed over the part.
"""

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class Usage:
    """One part at one moment."""

    cpu_s: float
    rss_bytes: int
    processes: int


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def usage(pid: int) -> Usage:
    """CPU so far and memory now of the process ``pid`` and its descendants."""
    cpu, rss, count = 0.0, 0, 0
    for process in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            times = process.cpu_times()
            cpu += times.user + times.system + times.children_user + times.children_system
            rss += process.memory_info().rss
            count += 1
    return Usage(cpu, rss, count)


def snapshot(pids: Mapping[str, int]) -> dict[str, Usage]:
    """:func:`usage` of each named part."""
    return {name: usage(pid) for name, pid in pids.items() if pid}


def spent(before: Mapping[str, Usage], after: Mapping[str, Usage]) -> dict[str, float]:
    """CPU seconds each part used between two snapshots (all of it, if it started between)."""
    none = Usage(0.0, 0, 0)
    return {name: max(0.0, after[name].cpu_s - before.get(name, none).cpu_s) for name in after}


def machine_busy_s() -> float:
    """CPU seconds every core of the machine spent busy so far, whoever's process ran.

    Beside the parts' own CPU this shows what else ran (another user's tests, the load tool):
    a part that cannot go faster on a machine left idle is limited by something else.
    """
    times = psutil.cpu_times()
    # Linux's user time includes its guests'; waiting (idle, iowait) and steal are not busy.
    busy = ("user", "nice", "system", "irq", "softirq")
    return float(sum(getattr(times, name, 0.0) for name in busy))
