"""Named number lists (do-not-call, VIP, block...): E.164 normalisation,
CSV import and export, and the SQLite store steps read through
``Services.lists``."""
from __future__ import annotations

from agi.lists.numbers import Entry, Normaliser, probe_keys

__all__ = ["Entry", "Normaliser", "probe_keys"]
