"""Shared plumbing of the benchmarks that start real ``caseline`` processes: a fresh
database per backend and the environment those processes run with. (Not a benchmark:
``make bench`` runs ``bench/*_bench.py`` only.)"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://root@127.0.0.1:5432/postgres")


def pg_url(db: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + db


def pg_reset(db: str) -> None:
    """Drop and create PostgreSQL database ``db`` (the benches own their databases)."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')


def process_env(backend: str, tmp: Path, pg_db: str) -> dict[str, str]:
    """The environment of the caseline processes of one run: its own data directory,
    queue and rate-limit files under ``tmp``, no shared test clock, and a fresh database
    (``backend`` "postgres": database ``pg_db``, dropped and created; else an SQLite file)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"CASELINE_TIME_FILE", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="caseline.settings",
        CASELINE_DATA_DIR=str(tmp / "data"),
        QUEUE_URL=f"sqlite:///{tmp / 'queue.sqlite3'}",
        RATELIMIT_URL=f"sqlite:///{tmp / 'ratelimit.sqlite3'}",
        PYTHONPATH=str(ROOT),
        LOG_LEVEL="ERROR",
    )
    if backend == "postgres":
        pg_reset(pg_db)
        env["DATABASE_URL"] = pg_url(pg_db)
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    return env
