"""Where the database is and how to reach it: a SQLite file or a
PostgreSQL server (``database:`` in config.yaml), PostgreSQL connections
with agiflow's timeouts and statements, which errors mean the server is in
trouble, the caps on stored text, and the checks that keep SQLite's files
safe to touch. Below every store (agi/lists, agi/storage)."""
