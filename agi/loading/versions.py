"""Flow versions: every loaded flow has a content version (the Git blob id
of its file, cut to VERSION_LENGTH hex digits), and a flows folder inside a
Git work tree has the commit it is at. The CDR records the version each call
ran; a reload logs what changed, flow by flow.

The version is the id Git gives the file's bytes (``git hash-object
flows/support.yaml``), so ``git log --find-object=<version>`` finds the
commits that wrote it.
"""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Mapping

#: Hex digits of a flow version.
VERSION_LENGTH = 12
#: Seconds ``git`` may take to say where the flows folder is.
GIT_TIMEOUT = 5.0


def content_version(data: bytes) -> str:
    """The Git blob id of ``data``, cut to VERSION_LENGTH hex digits."""
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False)
    return blob.hexdigest()[:VERSION_LENGTH]


def folder_commit(folder: str | Path) -> str | None:
    """The commit (VERSION_LENGTH hex digits) of the Git work tree holding
    ``folder``, with ``-dirty`` when files under ``folder`` differ from it;
    None when it is not in a work tree or Git cannot tell."""
    head = _git(folder, "rev-parse", "--verify", "--quiet", "HEAD")
    if not head:
        return None
    status = _git(folder, "status", "--porcelain", "--untracked-files=normal", "--", ".")
    return head[:VERSION_LENGTH] + ("-dirty" if status else "")


def _git(folder: str | Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def version_changes(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """What a load changed, one line per flow, by name: ``support:
    1a2b3c4d5e6f -> 9f8e7d6c5b4a``, ``sales: added at 0a1b2c3d4e5f``,
    ``old: removed (was 5e6f7a8b9c0d)``; flows whose version stayed are left
    out. On the first load (``old`` empty): ``support: 1a2b3c4d5e6f``."""
    lines = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if not old:
            lines.append(f"{name}: {after}")
        elif before is None:
            lines.append(f"{name}: added at {after}")
        elif after is None:
            lines.append(f"{name}: removed (was {before})")
        else:
            lines.append(f"{name}: {before} -> {after}")
    return lines
