"""A real PostgreSQL for the tests, on any machine.

In order: the server named by ``AGIFLOW_TEST_POSTGRES`` (a libpq URL of a
database the tests may create databases from), one answering on the local
socket or on 127.0.0.1:5432 as user ``postgres`` without a password, or a
throwaway cluster started with the ``initdb`` and ``pg_ctl`` of Debian's
``postgresql`` package in a temporary folder (as the ``postgres`` user when
the tests run as root: PostgreSQL refuses to run as root), stopped and
removed at the end of the session. Each test gets a schema of its own in a
database of the session's own; both are dropped afterwards.
"""
from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import psycopg

from agi.db.location import PostgresUrl

#: Seconds a test's URL lets the connection take (``connect_timeout``).
CONNECT_TIMEOUT = 30
CANDIDATES = ("postgresql://postgres@/postgres?host=/var/run/postgresql",
              "postgresql://postgres@127.0.0.1:5432/postgres")


def _answers(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=10, autocommit=True).close()
        return True
    except psycopg.Error:
        return False


def _bindir() -> Path | None:
    for candidate in ("pg_ctl",):
        found = shutil.which(candidate)
        if found:
            return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster in ``folder``, listening on 127.0.0.1:``port``."""

    folder: Path
    port: int
    bindir: Path
    as_user: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.folder / "data"), "-U", "postgres",
                  "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), "-o", options,
                  "-l", str(self.folder / "log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", mode, "-w", "stop")

    def postmaster_pid(self) -> int:
        return int((self.folder / "data" / "postmaster.pid").read_text().split()[0])

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except (subprocess.SubprocessError, OSError):
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


def new_cluster() -> Cluster | None:
    """A started throwaway cluster, or None when the binaries are missing."""
    bindir = _bindir()
    if bindir is None or not (bindir / "initdb").exists():
        return None
    folder = Path(tempfile.mkdtemp(prefix="agiflow-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        os.chmod(folder, 0o700)
        as_user = ["runuser", "-u", "postgres", "--"]
    cluster = Cluster(folder, _free_port(), bindir, as_user)
    cluster.init()
    cluster.start()
    return cluster


class TestServer:
    """A server the tests may create databases on, and its session database."""

    def __init__(self, admin_url: str, cluster: Cluster | None = None) -> None:
        self.admin_url = admin_url
        self.cluster = cluster
        self.database = f"agiflow_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        self.url = _with_database(admin_url, self.database)

    def schema_url(self) -> tuple[PostgresUrl, str]:
        """A URL whose tables live in a new schema of their own, and its name."""
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        joiner = "&" if "?" in self.url else "?"
        # a machine busy with other work can take more than agiflow's default 3 s to connect
        return PostgresUrl(f"{self.url}{joiner}connect_timeout={CONNECT_TIMEOUT}"
                           f"&options={quote(f'-csearch_path={schema}')}"), schema

    def drop_schema(self, schema: str) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute("SET lock_timeout = '5s'")
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        except psycopg.Error:
            pass  # still in use: dropped with the session's database

    def close(self) -> None:
        try:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            if self.cluster is not None:
                self.cluster.remove()


def _with_database(url: str, database: str) -> str:
    head, _, query = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{database}" + (f"?{query}" if query else "")


def find_server() -> TestServer | None:
    """The first server that answers, else a throwaway cluster, else None."""
    configured = os.environ.get("AGIFLOW_TEST_POSTGRES")
    for url in ([configured] if configured else []) + list(CANDIDATES):
        if _answers(url):
            return TestServer(url)
    cluster = new_cluster()
    return TestServer(cluster.url, cluster) if cluster is not None else None


@contextlib.contextmanager
def dml_role(url: PostgresUrl, name: str) -> Iterator[PostgresUrl]:
    """``url`` as a role of its own, ``name`` (made unique to the test's
    schema), that may read and write the tables of the test's schema and
    take ids from its sequences, but not change the schema (no DDL), as a
    fleet's servers may run; the role is dropped afterwards."""
    from agi.db import postgres as pg
    schema = re.search(r"search_path%3D(\w+)", url.url).group(1)  # type: ignore[union-attr]
    role = f"{name}_{abs(hash(url.url)) % 10**8}"
    with psycopg.connect(**pg.parameters(url), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        admin.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}")
        admin.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}")
    try:
        yield PostgresUrl(url.url.replace("postgresql://postgres@", f"postgresql://{role}@", 1))
    finally:
        with psycopg.connect(**pg.parameters(url), autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


@contextlib.contextmanager
def without_public_temporary(url: PostgresUrl) -> Iterator[str]:
    """``url``'s database with ``TEMPORARY`` revoked from PUBLIC (as a
    database hardened with ``REVOKE ALL ON DATABASE ... FROM PUBLIC`` has it)
    for the length of a with block; its name."""
    from agi.db import postgres as pg
    with psycopg.connect(**pg.parameters(url), autocommit=True) as admin:
        name = admin.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        admin.execute(f'REVOKE TEMPORARY ON DATABASE "{name}" FROM PUBLIC')
    try:
        yield str(name)
    finally:
        with psycopg.connect(**pg.parameters(url), autocommit=True) as admin:
            admin.execute(f'GRANT TEMPORARY ON DATABASE "{name}" TO PUBLIC')


def ended_before_purge(monkeypatch: Any, url: PostgresUrl) -> None:
    """Make the next list purge (``PostgresListAdmin._purge``: the entries
    of a list removed a chunk at a time, after its commit) find its
    connection ended by the server first (a restart, pg_terminate_backend)."""
    from agi.db import postgres as pg
    from agi.lists.pg_admin import PostgresListAdmin
    purge = PostgresListAdmin._purge

    def ended_first(admin: PostgresListAdmin, list_id: int) -> None:
        with contextlib.closing(pg.connect(url)) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (admin.conn.raw.info.backend_pid,))  # type: ignore[attr-defined]
        purge(admin, list_id)
    monkeypatch.setattr(PostgresListAdmin, "_purge", ended_first)
