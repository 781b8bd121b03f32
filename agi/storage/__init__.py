"""Call detail records: one row per call in ``calls``, one per step in
``call_steps``, in SQLite."""
