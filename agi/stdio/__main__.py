"""``python -m agi.stdio``: the same as the ``agiflow-agi`` console script."""
from agi.stdio.main import entry_point

entry_point()
