"""Workers for ``auto``: the affinity mask capped by a control group's CPU
quota, read from cgroup v2 and v1 folders laid out as the kernel lays them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from agi.cpus import cpu_quota, usable_cpus

AFFINITY = len(os.sched_getaffinity(0))


def v2(tmp_path: Path, group: str, limits: dict[str, str]) -> tuple[Path, Path]:
    """A cgroup v2 mount with ``cpu.max`` in the given folders (relative to
    the mount), and a /proc/self/cgroup naming ``group``."""
    root = tmp_path / "cgroup"
    (root / group.strip("/")).mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpu memory\n")
    for folder, limit in limits.items():
        (root / folder / "cpu.max").write_text(limit + "\n")
    me = tmp_path / "self-cgroup"
    me.write_text(f"0::{group}\n")
    return root, me


def v1(tmp_path: Path, mount: str, group: str, quota: str, period: str = "100000") -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    folder = root / mount / group.strip("/")
    folder.mkdir(parents=True)
    (folder / "cpu.cfs_quota_us").write_text(quota + "\n")
    (folder / "cpu.cfs_period_us").write_text(period + "\n")
    me = tmp_path / "self-cgroup"
    me.write_text(f"12:memory:/x\n4:{mount}:{group}\n1:name=systemd:/\n")
    return root, me


def test_a_v2_quota_caps_the_workers_and_rounds_down(tmp_path: Path) -> None:
    root, me = v2(tmp_path, "/", {"": "150000 100000"})
    assert cpu_quota(root, me) == 1.5
    assert usable_cpus(root, me) == 1


def test_a_v2_quota_of_a_parent_group_counts_and_the_smallest_wins(tmp_path: Path) -> None:
    root, me = v2(tmp_path, "/kubepods/pod1/box", {"kubepods/pod1": "50000 100000", "kubepods/pod1/box": "max 100000"})
    assert cpu_quota(root, me) == 0.5
    assert usable_cpus(root, me) == 1  # never 0


@pytest.mark.parametrize("mount", ["cpu", "cpu,cpuacct"])
def test_a_v1_quota_caps_the_workers(tmp_path: Path, mount: str) -> None:
    root, me = v1(tmp_path, mount, "/docker/abc", str(100_000 * 64))
    assert cpu_quota(root, me) == 64
    assert usable_cpus(root, me) == AFFINITY  # a quota above the CPUs there are changes nothing


@pytest.mark.parametrize("limit", ["max 100000", "-1 100000", "abc 100000", "100000 0", ""])
def test_no_quota_leaves_the_affinity(tmp_path: Path, limit: str) -> None:
    root, me = v2(tmp_path, "/", {"": limit})
    assert cpu_quota(root, me) is None
    assert usable_cpus(root, me) == AFFINITY


def test_missing_files_mean_no_quota(tmp_path: Path) -> None:
    assert cpu_quota(tmp_path / "none", tmp_path / "no-self") is None
    assert usable_cpus(tmp_path / "none", tmp_path / "no-self") == AFFINITY


def test_v2_beside_v1_is_read_under_unified(tmp_path: Path) -> None:
    unified = tmp_path / "cgroup" / "unified"
    (unified / "svc").mkdir(parents=True)
    (unified / "cgroup.controllers").write_text("cpu\n")
    (unified / "svc" / "cpu.max").write_text("100000 100000\n")
    me = tmp_path / "self-cgroup"
    me.write_text("0::/svc\n")
    assert cpu_quota(tmp_path / "cgroup", me) == 1.0


def test_this_machine_gives_at_least_one_and_at_most_its_affinity() -> None:
    assert 1 <= usable_cpus() <= AFFINITY
