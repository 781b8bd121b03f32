"""Where the database is and how to reach it: a SQLite file or a
PostgreSQL server (``database:`` in config.yaml), PostgreSQL connections
with agiflow's timeouts, and which errors mean the server is in trouble.
Below every store (agi/lists, agi/storage), above nothing of agiflow's."""
