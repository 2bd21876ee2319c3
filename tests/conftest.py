"""Shared fixtures. The suite runs twice (make test): on SQLite, then on PostgreSQL with
CASELINE_DB_ONLY=1, which keeps only the tests that touch the database."""

from __future__ import annotations

import os

import pytest
from django.conf import settings

DB_FIXTURES = {"db", "transactional_db", "django_db_setup", "live_server"}


def pytest_collection_modifyitems(config, items):
    if os.environ.get("CASELINE_DB_ONLY") != "1":
        return
    keep, drop = [], []
    for item in items:
        uses_db = item.get_closest_marker("django_db") is not None or bool(
            DB_FIXTURES & set(getattr(item, "fixturenames", ()))
        )
        browser = item.get_closest_marker("browser") is not None
        (keep if uses_db and not browser else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep


def pytest_unconfigure(config):
    """The run's temporary data directory (tests/settings.py made it) goes with the run;
    only the process that made it (the xdist controller, or a plain run) removes it."""
    import shutil

    data_dir = os.environ.get("CASELINE_TEST_DATA_DIR_OWNED")
    if data_dir and not os.environ.get("PYTEST_XDIST_WORKER"):
        shutil.rmtree(data_dir, ignore_errors=True)


def pytest_report_header(config):
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return f"caseline database: {engine}"


@pytest.fixture(autouse=True)
def _clean_ratelimit():
    from caseline.api import ratelimit

    yield
    try:
        ratelimit.store().clear()
    except Exception:
        pass


@pytest.fixture
def roles(db):
    """The role groups with their default permissions (created after migrate)."""
    from django.contrib.auth.models import Group

    return {g.name: g for g in Group.objects.all()}


@pytest.fixture
def make_staff(db):
    from django.contrib.auth.models import Group

    from caseline.accounts.models import User

    counter = {"n": 0}

    def make(*role_names: str, email: str | None = None, **fields) -> User:
        counter["n"] += 1
        email = email or f"staff{counter['n']}-{'-'.join(role_names) or 'none'}@caseline.test"
        user = User.objects.create_user(
            username=email, email=email, password="pw-for-tests-123", **fields
        )
        for name in role_names:
            user.groups.add(Group.objects.get(name=name))
        return user

    return make


@pytest.fixture
def api_client(db):
    """A Django test client that sends a fresh API token for the given user."""
    from django.test import Client

    from caseline.accounts.tokens import create_token

    def for_user(user) -> Client:
        _, secret = create_token(user, "test")
        return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    return for_user


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url_for_subprocess() -> str:
    """A DATABASE_URL that reaches the current test database from another process."""
    from django.db import connection

    conf = connection.settings_dict
    if conf["ENGINE"].endswith("sqlite3"):
        name = str(conf["NAME"])
        if name == ":memory:" or name.startswith("file:memorydb"):
            raise RuntimeError("subprocess tests need a file-backed SQLite test database")
        return f"sqlite:///{name}"
    user = conf.get("USER") or ""
    host = conf.get("HOST") or "127.0.0.1"
    port = conf.get("PORT") or 5432
    auth = f"{user}@" if user else ""
    return f"postgres://{auth}{host}:{port}/{conf['NAME']}"


@pytest.fixture
def subprocess_env(transactional_db, tmp_path):
    """Environment for server/worker/clock subprocesses sharing this test's database."""
    import sys

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "DJANGO_SETTINGS_MODULE"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="caseline.settings",
        DATABASE_URL=database_url_for_subprocess(),
        CASELINE_DATA_DIR=str(tmp_path / "data"),
        QUEUE_URL=f"sqlite:///{tmp_path / 'queue.sqlite3'}",
        RATELIMIT_URL=f"sqlite:///{tmp_path / 'ratelimit.sqlite3'}",
        CASELINE_TIME_FILE=str(tmp_path / "time.json"),
        PYTHONPATH=os.getcwd(),
        PYTHON=sys.executable,
    )
    return env
