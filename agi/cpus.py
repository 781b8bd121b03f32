"""How many CPUs this process may use: its affinity mask (``taskset``,
cpusets), capped by a control group's CPU quota (a container's ``--cpus``,
Kubernetes' CPU limit), which a process cannot see in its affinity.

A quota of 2.5 CPUs counts as 2: a third busy worker would only get the
whole group throttled every period, and every call with it. Files that are
missing or unreadable mean no quota.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")


def usable_cpus(root: Path = CGROUP_ROOT, self_cgroup: Path = SELF_CGROUP) -> int:
    """The CPUs this process may run on, at least 1."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cpu_quota(root, self_cgroup)
    if quota is not None:
        cpus = min(cpus, max(1, math.floor(quota)))
    return max(1, cpus)


def cpu_quota(root: Path = CGROUP_ROOT, self_cgroup: Path = SELF_CGROUP) -> float | None:
    """The smallest CPU quota (in CPUs) of this process's control group and
    the groups above it, cgroup v2 (``cpu.max``) or v1 (``cpu.cfs_quota_us``
    over ``cpu.cfs_period_us``); None when none is set or none can be read."""
    quotas = [q for folder in _cpu_folders(root, self_cgroup) if (q := _folder_quota(folder)) is not None]
    return min(quotas, default=None)


def _cpu_folders(root: Path, self_cgroup: Path) -> list[Path]:
    """The folders of this process's CPU control group and of its parents up to the mount."""
    try:
        lines = self_cgroup.read_text(errors="replace").splitlines()
    except OSError:
        return []
    folders: list[Path] = []
    for line in lines:
        _, _, rest = line.partition(":")
        controllers, _, group = rest.partition(":")
        if controllers == "":  # v2: one hierarchy, mounted at the root (or under "unified" beside v1)
            mounts = [m for m in (root, root / "unified") if (m / "cgroup.controllers").is_file()]
        elif "cpu" in controllers.split(","):
            mounts = [m for m in (root / controllers, root / "cpu", root / "cpu,cpuacct") if m.is_dir()]
        else:
            continue
        folders.extend(_up_from(mounts[0], group) if mounts else ())
    return folders


def _up_from(mount: Path, group: str) -> list[Path]:
    """``mount/group`` and each folder above it, up to ``mount``."""
    parts = [p for p in group.split("/") if p and p not in (".", "..")]
    return [mount.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]


def _folder_quota(folder: Path) -> float | None:
    v2 = _read(folder / "cpu.max")
    if v2 is not None:
        limit, _, every = v2.partition(" ")
        return _ratio(limit, every)
    quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
    return None if quota is None or period is None else _ratio(quota, period)


def _ratio(quota: str, period: str) -> float | None:
    """``quota / period`` in CPUs; None for no limit (``max``, -1) or nonsense."""
    try:
        limit, every = int(quota), int(period)
    except ValueError:
        return None
    return limit / every if limit > 0 and every > 0 else None


def _read(path: Path) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            return file.read(64).strip()
    except OSError:
        return None
