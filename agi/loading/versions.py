"""Flow versions: every loaded flow has a content version (the Git blob id
of its file, cut to VERSION_LENGTH hex digits), and a flows folder inside a
Git work tree has the commit checked out there. The CDR records the version each call
ran; a reload logs what changed, flow by flow.

The version is the id Git gives the file's bytes (``git hash-object
flows/support.yaml``), so ``git log --find-object=<version>`` finds the
commits that wrote it.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Mapping

#: Hex digits of a flow version.
VERSION_LENGTH = 12
_HEX = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def content_version(data: bytes) -> str:
    """The Git blob id of ``data``, cut to VERSION_LENGTH hex digits."""
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False)
    return blob.hexdigest()[:VERSION_LENGTH]


def folder_commit(folder: str | Path) -> str | None:
    """The commit (VERSION_LENGTH hex digits) checked out in the Git work
    tree holding ``folder``; None outside Git or when it cannot be read.
    Read from the ``.git`` files, without running ``git``: a server host
    need not have it. Files changed since that commit are not seen: each
    flow's own version says what is loaded."""
    try:
        start = Path(folder).resolve()
        for parent in (start, *start.parents):
            gitdir = _gitdir(parent / ".git")
            if gitdir is not None:
                return _head_commit(gitdir)
    except (OSError, ValueError):  # ValueError: not UTF-8, or too large
        return None
    return None


#: The largest Git file read (``packed-refs`` of a big repository).
MAX_GIT_FILE = 8 << 20


def _text(path: Path) -> str:
    """A file of the repository as text: only a regular file, read without
    waiting (a ``HEAD`` that was a named pipe held every reload for ever,
    one linked to ``/dev/zero`` filled the memory)."""
    from agi.loading.files import read_capped  # files imports this module
    return read_capped(path, MAX_GIT_FILE, regular_only=True).decode("utf-8")


def _gitdir(dotgit: Path) -> Path | None:
    """The repository of a ``.git`` folder, or of a ``.git`` file (``gitdir:
    ...``, as in linked work trees and submodules)."""
    if dotgit.is_dir():
        return dotgit
    if dotgit.is_file():
        text = _text(dotgit).strip()
        if text.startswith("gitdir:"):
            return (dotgit.parent / text[len("gitdir:"):].strip()).resolve()
    return None


def _head_commit(gitdir: Path) -> str | None:
    head = _text(gitdir / "HEAD").strip()
    if not head.startswith("ref:"):
        return _commit_id(head)
    ref = head[len("ref:"):].strip()
    common = gitdir
    if (gitdir / "commondir").is_file():
        common = (gitdir / _text(gitdir / "commondir").strip()).resolve()
    for base in (gitdir, common):
        if (base / ref).is_file():
            return _commit_id(_text(base / ref).strip())
    packed = common / "packed-refs"
    if packed.is_file():
        for line in _text(packed).splitlines():
            commit, _, name = line.partition(" ")
            if name.strip() == ref:
                return _commit_id(commit)
    return None  # a branch with no commit yet


def _commit_id(text: str) -> str | None:
    return text[:VERSION_LENGTH] if _HEX.fullmatch(text) else None


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
