"""``python -m agi.cli``: the ``agiflow`` command (how a supervisor starts its workers)."""
from __future__ import annotations

from agi.cli.main import main

if __name__ == "__main__":
    main()
