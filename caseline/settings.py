"""One settings module, driven by environment variables; the defaults run the embedded demo.

Environment:
  CASELINE_ENV          "development" (default) or "production"
  SECRET_KEY            required (non-default) in production
  DEBUG                 "1"/"0"; default on in development, must be off in production
  ALLOWED_HOSTS         comma-separated; default "*" in development
  CASELINE_DATA_DIR     where the embedded database, queue and attachments live (./var)
  DATABASE_URL          sqlite:///path or postgres://...; default embedded SQLite
  QUEUE_URL             sqlite:///path (default), redis://..., or "immediate" (tests)
  RATELIMIT_URL         sqlite:///path (default, shared by all processes) or redis://...
  API_RATE_LIMIT        requests per minute per token (default 600)
  EMAIL_URL-like:       EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD,
                        EMAIL_USE_TLS, EMAIL_USE_SSL, EMAIL_BACKEND, DEFAULT_FROM_EMAIL
  CASELINE_TIME_FILE    test mode: a shared controllable clock (see caseline.timesource)
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent
ENV = os.environ.get("CASELINE_ENV", "development")
PRODUCTION = ENV == "production"


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


DEFAULT_SECRET_KEY = "caseline-insecure-development-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
DEBUG = _bool("DEBUG", not PRODUCTION)

if PRODUCTION:
    if SECRET_KEY == DEFAULT_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "CASELINE_ENV=production needs SECRET_KEY set to a random value of 32+ characters"
        )
    if DEBUG:
        raise ImproperlyConfigured("CASELINE_ENV=production refuses to run with DEBUG on")

ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("ALLOWED_HOSTS", "" if PRODUCTION else "*").split(",")
    if h.strip()
]

DATA_DIR = Path(os.environ.get("CASELINE_DATA_DIR", Path.cwd() / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "huey.contrib.djhuey",
    "caseline",
    "caseline.audit",
    "caseline.accounts",
    "caseline.notify",
    "caseline.tickets",
    "caseline.mail",
    "caseline.sla",
    "caseline.oncall",
    "caseline.eta",
    "caseline.escalations",
    "caseline.incidents",
    "caseline.learning",
    "caseline.search",
    "caseline.api",
    "caseline.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "caseline.web.middleware.UserTimeZoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "caseline.api.middleware.RateLimitHeadersMiddleware",
]

ROOT_URLCONF = "caseline.urls"
WSGI_APPLICATION = "caseline.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "caseline.web.context_processors.workspace",
            ]
        },
    }
]

# --- database --------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'caseline.sqlite3'}"
_db = dj_database_url.parse(DATABASE_URL)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {
        # IMMEDIATE: a write transaction takes the write lock at BEGIN, so concurrent
        # writers queue on the busy timeout instead of failing with "database is locked".
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
            "PRAGMA busy_timeout=30000; PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;"
        ),
    }
    _db["CONN_MAX_AGE"] = 600
    _db.setdefault("TEST", {})
    if os.environ.get("CASELINE_TEST_SQLITE_FILE"):
        # Subprocess tests: an in-memory test database is invisible to other processes.
        _db["TEST"]["NAME"] = os.environ["CASELINE_TEST_SQLITE_FILE"]
elif _db["ENGINE"] in {"django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2"}:
    _db["ENGINE"] = "django.db.backends.postgresql"
    _db["CONN_MAX_AGE"] = 0  # the psycopg pool keeps connections
    _db["OPTIONS"] = {
        "pool": {
            "min_size": 1,
            "max_size": int(os.environ.get("DB_POOL_MAX", "16")),
            "timeout": 10,
        }
    }
else:
    # Search (FTS5 / tsvector), timers (SKIP LOCKED / the SQLite claim step) and the
    # migrations' raw SQL exist for these two only: refuse anything else at start-up.
    raise ImproperlyConfigured(
        f"DATABASE_URL must name SQLite (sqlite:///path) or PostgreSQL (postgres://...); "
        f"{_db['ENGINE']} is not supported"
    )
_db["ATOMIC_REQUESTS"] = False  # with IMMEDIATE it would make every GET take the write lock
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- queue (huey) ----------------------------------------------------------------------
QUEUE_URL = os.environ.get("QUEUE_URL") or f"sqlite:///{DATA_DIR / 'queue.sqlite3'}"
if QUEUE_URL == "immediate":
    HUEY = {"huey_class": "huey.MemoryHuey", "name": "caseline", "immediate": True}
elif QUEUE_URL.startswith("redis://"):
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": "caseline",
        "url": QUEUE_URL,
        "immediate": False,
        # Poll at most every 0.5 s when idle (huey's default backs off to 10 s), so an
        # outbox row written by a firing timer is picked up within a second.
        "consumer": {"workers": 2, "worker_type": "thread", "backoff": 1.15, "max_delay": 0.5},
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "caseline",
        "filename": QUEUE_URL.removeprefix("sqlite:///") or str(DATA_DIR / "queue.sqlite3"),
        "immediate": False,
        # Poll at most every 0.5 s when idle (huey's default backs off to 10 s), so an
        # outbox row written by a firing timer is picked up within a second.
        "consumer": {"workers": 2, "worker_type": "thread", "backoff": 1.15, "max_delay": 0.5},
    }

RATELIMIT_URL = os.environ.get("RATELIMIT_URL") or f"sqlite:///{DATA_DIR / 'ratelimit.sqlite3'}"
API_RATE_LIMIT = int(os.environ.get("API_RATE_LIMIT", "600"))  # per token per minute

# --- auth ------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if os.environ.get("CASELINE_FAST_PASSWORDS"):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Secure cookies and HSTS whenever DEBUG is off (production refuses DEBUG); a plain-HTTP
# non-production install may turn them off with SECURE_COOKIES=0 / HSTS_SECONDS=0.
_SECURE = _bool("SECURE_COOKIES", PRODUCTION or not DEBUG)
SESSION_COOKIE_SECURE = _SECURE
CSRF_COOKIE_SECURE = _SECURE
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # htmx sends the token from the page (base.html hx-headers)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(12 * 3600)))
SECURE_HSTS_SECONDS = int(os.environ.get("HSTS_SECONDS", "31536000" if _SECURE else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = _bool("HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_SSL_REDIRECT = _bool("SECURE_SSL_REDIRECT", False)  # usually the proxy's job
if os.environ.get("SECURE_PROXY_SSL_HEADER"):  # e.g. "HTTP_X_FORWARDED_PROTO"
    SECURE_PROXY_SSL_HEADER = (os.environ["SECURE_PROXY_SSL_HEADER"], "https")
SECURE_REFERRER_POLICY = "same-origin"
# Sign-in lockout (caseline/web/services.py): failures per username + address.
LOGIN_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
LOGIN_FAILURE_WINDOW_SECONDS = int(os.environ.get("LOGIN_FAILURE_WINDOW_SECONDS", "900"))
LOGIN_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_SECONDS", "900"))
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_RESET_TIMEOUT", str(3 * 3600)))
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

# --- i18n / time -----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- files -----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "media"))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {
        "BACKEND": os.environ.get("FILE_STORAGE", "django.core.files.storage.FileSystemStorage")
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
ATTACHMENT_MAX_BYTES = int(os.environ.get("ATTACHMENT_MAX_BYTES", str(25 * 1024 * 1024)))
# API clients send attachments base64-encoded inside JSON: let a request body carry at
# least one attachment of the maximum size (base64 is 4/3 larger) plus the message.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(
    2_621_440, int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", "0")) or ATTACHMENT_MAX_BYTES * 2
)

# --- email -----------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if os.environ.get("EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = 20
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "support@caseline.localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
CASELINE_MAIL_DOMAIN = os.environ.get("CASELINE_MAIL_DOMAIN", "caseline.localhost")
# Inbound mail: messages per ingest transaction of the IMAP poller (docs/email.md).
MAIL_INGEST_BATCH = max(1, int(os.environ.get("MAIL_INGEST_BATCH", "20")))

# --- customer portal (docs/portal.md) ---------------------------------------------------
# Base of the links in sign-in emails, e.g. https://support.example.com (empty: the
# request's host, which ALLOWED_HOSTS must then pin down).
PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", "").rstrip("/")
PORTAL_LINK_MINUTES = int(os.environ.get("PORTAL_LINK_MINUTES", "15"))
PORTAL_LINKS_PER_HOUR = int(os.environ.get("PORTAL_LINKS_PER_HOUR", "5"))  # per address
PORTAL_LINK_REQUESTS_PER_MINUTE = int(os.environ.get("PORTAL_LINK_REQUESTS_PER_MINUTE", "10"))

# --- outbox ----------------------------------------------------------------------------
OUTBOX_MAX_ATTEMPTS = int(os.environ.get("OUTBOX_MAX_ATTEMPTS", "8"))
OUTBOX_SWEEP_AFTER_SECONDS = int(os.environ.get("OUTBOX_SWEEP_AFTER_SECONDS", "60"))
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10"))
# Webhooks may target loopback/private/link-local addresses only when this is on
# (a local receiver in tests or on a closed network); off, they are refused (SSRF).
WEBHOOK_ALLOW_PRIVATE = _bool("WEBHOOK_ALLOW_PRIVATE", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
