"""Test settings: the product's settings with test defaults set before they are read."""

import os
import tempfile

os.environ.setdefault("QUEUE_URL", "immediate")
os.environ.setdefault("CASELINE_FAST_PASSWORDS", "1")
os.environ.setdefault("API_RATE_LIMIT", "100000")
# The reply checker's optional MiniLM path stays out of the suite (its own tests load it).
os.environ.setdefault("REPLYCHECK_METHOD", "lexical")
if "CASELINE_DATA_DIR" not in os.environ:
    os.environ["CASELINE_DATA_DIR"] = tempfile.mkdtemp(prefix="caseline-test-")
    os.environ["CASELINE_TEST_DATA_DIR_OWNED"] = os.environ["CASELINE_DATA_DIR"]

# Each xdist worker counts its own API hits: tests that freeze time in another minute would
# otherwise reset the window of a rate-limit test running beside them.
# (The controller's value is inherited by the workers, so a worker always sets its own.)
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["RATELIMIT_URL"] = "sqlite:///" + os.path.join(
        os.environ["CASELINE_DATA_DIR"], f"ratelimit-{os.environ['PYTEST_XDIST_WORKER']}.sqlite3"
    )

from caseline.settings import *  # noqa: E402,F403
from caseline.settings import DATA_DIR, DATABASES  # noqa: E402

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # File-backed, so processes started by a test (server, worker, clock) see the data.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
else:
    # The suite opens and closes test databases; plain connections keep that simple.
    DATABASES["default"]["OPTIONS"] = {}
