"""The SQLite database: CDRs (``calls``, ``call_steps``) and the writers that
fill them, callback requests and schedule overrides. The CDR columns
themselves are defined in agi.vocabulary."""
