"""Imported first by ``agi.stdio.main``: from here on, a caller who hangs up
while ``agiflow-agi`` is still starting is noted, not fatal
(agi/early_sighup.py)."""
from agi import early_sighup

early_sighup.catch()
