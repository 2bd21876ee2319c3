"""Browser tests: a real `caseline serve` (granian) subprocess on a free port against this
test's file-backed SQLite test database, driven by Debian's chromium through Playwright.

Fixtures:
  migration_seeds -> the SLA app's seeded calendars and policies are there (request it
                 before creating tickets: a previous transactional test's flush removes them)
  e2e_server  -> base URL ("http://127.0.0.1:<port>"); seed data with the services in the
                 test (transactional_db: committed, so the server sees it)
  browser     -> a Playwright Browser (session-wide); skipped when chromium or Playwright
                 is missing (install: apt-get install -y chromium; pip install playwright)
  page        -> a fresh context and page (1400x900) per test
  sign_in(page, base, email, password=PASSWORD)
  screenshot(page, name) -> docs/screenshots/<name>.png with CASELINE_SCREENSHOTS=1,
  else a temporary directory
Mark modules: pytestmark = [pytest.mark.browser, pytest.mark.subprocess]
(browser tests are skipped in the PostgreSQL pass, see tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

PASSWORD = "pw-for-tests-123"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except Exception:
        return 0


@pytest.fixture
def migration_seeds(transactional_db):
    """Re-run the data migrations of the SLA app (seeded calendars and policies) when an
    earlier transactional test's flush removed their rows; they are idempotent."""
    from django.apps import apps
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.operations.special import RunPython

    from caseline.sla import calendars
    from caseline.sla.models import Policy

    if not Policy.objects.exists():
        loader = MigrationLoader(connection)
        keys = sorted(k for k in loader.disk_migrations if k[0] == "sla")
        with connection.schema_editor() as editor:
            for key in keys:
                for op in loader.disk_migrations[key].operations:
                    if isinstance(op, RunPython):
                        op.code(apps, editor)
    calendars.invalidate()
    yield
    calendars.invalidate()


@pytest.fixture
def e2e_server(subprocess_env, tmp_path):
    env = dict(subprocess_env)
    env.pop("CASELINE_TIME_FILE", None)  # real, flowing time: the browser's clock agrees
    env.setdefault("LOG_LEVEL", "WARNING")
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "caseline", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _status(f"{base}/healthz") != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if not executable:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls
    # are still synchronous, so Django's async-safety check must not refuse them.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    p = context.new_page()
    try:
        yield p
    finally:
        context.close()


@pytest.fixture
def sign_in():
    def do(page, base: str, email: str, password: str = PASSWORD) -> None:
        page.goto(f"{base}/login/")
        page.fill("#id_username", email)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "/login/" not in page.url, page.content()[:2000]

    return do


@pytest.fixture
def screenshot(tmp_path):
    """Every e2e run takes the screenshots (a broken page fails to render); they replace
    the README's images in docs/screenshots/ only with CASELINE_SCREENSHOTS=1, so an
    ordinary test run leaves the checkout clean."""
    target = SCREENSHOTS if os.environ.get("CASELINE_SCREENSHOTS") == "1" else tmp_path

    def shoot(page, name: str) -> Path:
        target.mkdir(parents=True, exist_ok=True)
        path = target / f"{name}.png"
        page.screenshot(path=str(path), full_page=False)
        return path

    return shoot
