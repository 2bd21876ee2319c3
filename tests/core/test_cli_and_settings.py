"""The `caseline` command and the environment-driven settings, as real processes."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.pure

COMMANDS = ["serve", "worker", "clock", "migrate", "demo", "createadmin", "token", "check"]


def run(*args, env=None, tmp=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    base.pop("DJANGO_SETTINGS_MODULE", None)
    if tmp is not None:
        base["CASELINE_DATA_DIR"] = str(tmp)
        base.pop("DATABASE_URL", None)
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "caseline", *args],
        capture_output=True,
        text=True,
        env=base,
        timeout=120,
    )


def test_top_level_help_lists_commands(tmp_path):
    out = run("--help", tmp=tmp_path)
    assert out.returncode == 0
    for name in COMMANDS:
        assert f"  {name}" in out.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_has_help(tmp_path, name):
    out = run(name, "--help", tmp=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "usage: caseline " + name in out.stdout


def test_production_refuses_default_secret_key(tmp_path):
    out = run("check", env={"CASELINE_ENV": "production", "DEBUG": "0"}, tmp=tmp_path)
    assert out.returncode != 0
    assert "SECRET_KEY" in out.stderr


def test_production_refuses_debug(tmp_path):
    out = run(
        "check",
        env={"CASELINE_ENV": "production", "DEBUG": "1", "SECRET_KEY": "x" * 50},
        tmp=tmp_path,
    )
    assert out.returncode != 0
    assert "DEBUG" in out.stderr


def test_an_unsupported_database_is_refused_at_start(tmp_path):
    """Search, timers and raw-SQL migrations exist for SQLite and PostgreSQL only."""
    out = run("check", env={"DATABASE_URL": "mysql://u:p@127.0.0.1/caseline"}, tmp=tmp_path)
    assert out.returncode != 0
    assert "DATABASE_URL must name SQLite" in out.stderr


def test_production_starts_with_proper_settings(tmp_path):
    out = run(
        "check",
        env={
            "CASELINE_ENV": "production",
            "SECRET_KEY": "k" * 50,
            "ALLOWED_HOSTS": "support.example.com",
        },
        tmp=tmp_path,
    )
    assert out.returncode == 0, out.stderr


def test_migrate_createadmin_token_roundtrip(tmp_path):
    assert run("migrate", "-v", "0", tmp=tmp_path).returncode == 0
    out = run(
        "createadmin", "--email", "Root@Example.com", "--password", "s3cret-pass", tmp=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert "created administrator root@example.com" in out.stdout
    out = run("token", "create", "--user", "root@example.com", tmp=tmp_path)
    assert out.returncode == 0, out.stderr
    secret = out.stdout.strip()
    assert secret.startswith("cl_")
    listed = run("token", "list", tmp=tmp_path)
    assert secret[:10] in listed.stdout and "active" in listed.stdout
    revoked = run("token", "revoke", secret[:10], tmp=tmp_path)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    again = run("token", "revoke", secret[:10], tmp=tmp_path)
    assert again.returncode != 0 and "no active token" in again.stderr


def test_token_for_unknown_user_fails_cleanly(tmp_path):
    assert run("migrate", "-v", "0", tmp=tmp_path).returncode == 0
    out = run("token", "create", "--user", "ghost@example.com", tmp=tmp_path)
    assert out.returncode != 0
    assert "no user with email" in out.stderr
    assert "Traceback" not in out.stderr


def test_createadmin_rejects_bad_input(tmp_path):
    assert run("migrate", "-v", "0", tmp=tmp_path).returncode == 0
    bad_email = run(
        "createadmin", "--email", "not-an-email", "--password", "longenough", tmp=tmp_path
    )
    assert bad_email.returncode != 0 and "not an email" in bad_email.stderr
    short = run("createadmin", "--email", "a@b.co", "--password", "short", tmp=tmp_path)
    assert short.returncode != 0 and "8 characters" in short.stderr


def test_clock_once_runs_a_tick(tmp_path):
    assert run("migrate", "-v", "0", tmp=tmp_path).returncode == 0
    out = run("clock", "--once", tmp=tmp_path)
    assert out.returncode == 0, out.stderr
