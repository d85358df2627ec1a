"""Settings for the whole site, read from the environment in this one module.

Every variable read here is listed, with a comment, in `.env.example`. A `.env` file
at the project root is read when present; variables already set in the environment
win over it, so an operator can override any line without editing the file.
"""

import ipaddress
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
import redis
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from site_config.log_config import logging_config

# Django's generic views, forms and admin classes take type arguments at run time, as the
# application's classes give them for mypy (`FormView[MessageForm]`).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state (the SQLite database, emails written to files) lives here, out of git.
VAR_DIR = BASE_DIR / "var"


class Env(environ.Env):  # type: ignore[misc]
    """django-environ's reader, for every typed read below: a value it cannot read stops
    start-up with one line naming the variable, its value and what it should be. Numbers
    are read as Python reads them and switches take only yes or no words, where
    django-environ reads "1e3" as 13 and any other word as false."""

    # What each typed read takes, as its error says it.
    EXPECTED = {"int": "a whole number", "float": "a number", "bool": "true or false"}
    SWITCH_WORDS = {*environ.Env.BOOLEAN_TRUE_STRINGS, "false", "off", "n", "no", "0"}

    def get_value(
        self,
        var: str,
        cast: Any = None,
        default: Any = environ.Env.NOTSET,
        parse_default: bool = False,
    ) -> Any:
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except ValueError:
            expected = self.EXPECTED.get(getattr(cast, "__name__", ""), "readable as its type")
            raise ImproperlyConfigured(
                f"{var} must be {expected}, not {self.ENVIRON.get(var)!r}."
            ) from None

    @classmethod
    def parse_value(cls, value: Any, cast: Any) -> Any:
        if cast is float:
            return float(value)
        if cast is bool and str(value).strip().lower() not in cls.SWITCH_WORDS:
            raise ValueError(value)
        return super().parse_value(value, cast)


env = Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# ---------------------------------------------------------------- core

DEBUG = env.bool("DEBUG", default=False)

# Django's own deploy check calls a key weak when it is shorter than 50 characters,
# has fewer than 5 distinct characters, or carries the "django-insecure-" prefix.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Run `make .env` to write a .env with a fresh key, or set "
        "SECRET_KEY in the environment to a random string of at least "
        f"{SECRET_KEY_MIN_LENGTH} characters."
    )
if not DEBUG and (
    len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH
    or len(set(SECRET_KEY)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
    or SECRET_KEY.startswith("django-insecure-")
):
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak to run with DEBUG off. Set SECRET_KEY to a random string "
        f"of at least {SECRET_KEY_MIN_LENGTH} characters, for example the output of "
        '`python -c "from django.core.management.utils import get_random_secret_key as k; '
        'print(k())"`.'
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

ROOT_URLCONF = "site_config.urls"
WSGI_APPLICATION = "site_config.wsgi.application"

INSTALLED_APPS = [
    # First, so its broker is set up before any app's actors are declared.
    "django_dramatiq",
    # Django's admin, with our site: every page's header shows the delivery counts.
    "site_config.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    # django-axes, with a readable name in the admin.
    "site_config.axes_app.AxesConfig",
    # Email providers' backends and their tracking webhooks (docs/delivery.md).
    "anymail",
    # The building blocks both apps share (forms, rate limits, the client's address, the
    # request id); its checks are registered at start-up.
    "common",
    # Every email the site sends, of whatever kind: the apps below register their kinds.
    "outbox",
    "users",
    "contact",
]

MIDDLEWARE = [
    # First, so every answer (redirects and refusals too) carries the request's id.
    "common.request_id.RequestIdMiddleware",
    # Next, so a request's measured time is nearly all of the time it took.
    "site_config.request_metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Right after security, so static files skip the rest of the stack.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the switcher's cookie, else the browser's Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After the user's middleware: a signed-in person's pages are private to shared caches.
    "site_config.cache_control.PrivateWhenSignedInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Inside the policy's middleware, so their 400s carry the security headers too; before
    # anything reads the body (CSRF's check, the webhooks), so an over-long one stays unread.
    "site_config.request_guard.NulCharacterGuardMiddleware",
    "site_config.request_guard.BodySizeGuardMiddleware",
    # The providers' webhooks: off without a secret, and a body they cannot read is a 400.
    "outbox.webhooks.TrackingWebhookMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

# The site takes no files: a file part is refused at its headers, before a byte of it is
# kept in memory or in a temporary file.
FILE_UPLOAD_HANDLERS = ["site_config.request_guard.NoFilesUploadHandler"]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# ---------------------------------------------------------------- database

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web requests and worker threads write at once: WAL lets readers go on beside a
    # writer, IMMEDIATE takes the write lock up front instead of failing mid-transaction,
    # and the timeout makes a writer wait its turn rather than error.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Tests use a file too: an in-memory database shared between the live server's
    # threads fails at once on a table lock instead of waiting.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    # Keep connections across requests rather than reconnect, and check a kept one before
    # a request uses it, so that one the server dropped (a restart, a failover) is
    # replaced instead of failing the request.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Behind PgBouncer in transaction mode a cursor cannot outlive its transaction, so
    # Django's server-side cursors (QuerySet.iterator()) are off, as its docs advise.
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
        "DATABASE_TRANSACTION_POOLER", default=False
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------- accounts

AUTH_USER_MODEL = "users.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# django-axes checks every sign-in first and refuses those from a locked-out account or
# client before the password is even looked at.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Sessions live in the database, as Django's default keeps them: signing out ends one
# for good, and nothing is lost when Redis restarts.
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# Argon2 first, as Django recommends; a password hashed with one of the others (PBKDF2,
# as accounts made before it were) is rehashed with Argon2 at its next sign-in.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The link that confirms a new account's address works this long; so does a password
# reset link (Django's PASSWORD_RESET_TIMEOUT, in seconds), once each.
EMAIL_VERIFICATION_MAX_AGE = timedelta(hours=env.int("EMAIL_VERIFICATION_HOURS", default=72))
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_HOURS", default=1) * 3600

# ---------------------------------------------------------------- abuse limits

# Behind a proxy, the request header (as Django names it, e.g. HTTP_X_REAL_IP or
# HTTP_X_FORWARDED_FOR) that carries the client's address, believed from the proxy alone
# (common.client_ip); unset, the peer's address.
CLIENT_IP_HEADER = env.str("CLIENT_IP_HEADER", default="")

# Passwords: after SIGNIN_FAILURE_LIMIT failures for one account, from any address, its
# password is refused for SIGNIN_COOLOFF_MINUTES (a cool-off, not a lock). At most
# limit x 60 / cool-off failures per account per hour: 20 with the defaults; a system
# check refuses settings that would allow more than 100. A client address is limited
# apart, far higher, so that an office or a proxy's visitors never reach it by mistake.
AXES_FAILURE_LIMIT = env.int("SIGNIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("SIGNIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username"]
SIGNIN_FAILURES_PER_ADDRESS_PER_HOUR = env.int("SIGNIN_FAILURES_PER_ADDRESS_PER_HOUR", default=100)
# django-axes' database handler with the limit per address beside it (users.lockout).
AXES_HANDLER = "users.lockout.LockoutHandler"
# axes.W006 asks for the client address among AXES_LOCKOUT_PARAMETERS: here the address
# has its limit apart, far higher, so that one network's failures lock out no one else.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
# A successful sign-in clears that account's failures alone (users.lockout): axes' own
# reset would also clear every failure from the client's address, against any account.
AXES_RESET_ON_SUCCESS = False
# Failed tries during a cool-off do not extend it, so an attacker cannot keep a person
# locked out for ever.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The name authenticate() and Django's sign-in form give the account (axes' default is
# the model's field, "email"): every password check, the sign-in's or not, names it so.
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "users.lockout.lockout_username"
AXES_LOCKOUT_CALLABLE = "users.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "common.client_ip.client_ip"
RATELIMIT_IP_META_KEY = "common.client_ip.client_ip"

# Rate limits. Messages are counted per person from the database; the rest in the cache.
MESSAGES_PER_HOUR = env.int("MESSAGES_PER_HOUR", default=10)
# Sign-up posts, valid or not, per client address.
SIGNUPS_PER_HOUR = env.int("SIGNUPS_PER_HOUR", default=10)
VALIDATIONS_PER_MINUTE = env.int("VALIDATIONS_PER_MINUTE", default=120)
# Password reset requests, per address asked for and per client address.
PASSWORD_RESETS_PER_HOUR = env.int("PASSWORD_RESETS_PER_HOUR", default=5)
# New address-confirmation links, per account.
CONFIRMATION_RESENDS_PER_HOUR = env.int("CONFIRMATION_RESENDS_PER_HOUR", default=5)

# ---------------------------------------------------------------- Redis and the cache

# Redis, for the task queue and the cache: set in production. Unset is the embedded mode
# of `make run`, where one process does everything (see "task queue" below).
REDIS_URL = env.str("REDIS_URL", default="")
# The cache the address-based limits count in, shared by every process the site runs as:
# Redis when there is one; otherwise (the embedded mode) the database, so that gunicorn's
# workers count one limit between them, not one each. `make run` creates its table
# (createcachetable), and Django's test runner does for the tests.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # Bounded waits, so that a Redis that does not answer costs a request little.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "site_cache",
        }
    }
# What {% cache %} keeps (the blank message form answering each message sent): the same
# until the next deploy, so each process keeps its own, in memory.
CACHES["template_fragments"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}

# ---------------------------------------------------------------- browser policy

# Scripts, styles and everything else from this site only; no inline script, no eval,
# no plugins, no <base>, no framing. htmx is configured to match (templates/base.html).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
    }
}

# ---------------------------------------------------------------- language and time

# The site speaks these; each page follows the person's choice (the switcher's cookie)
# or their browser. LANGUAGE_CODE is the language for a browser that asks for neither,
# and for the emails to the administrator.
LANGUAGES = [("en", "English"), ("ru", "Russian")]
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# ---------------------------------------------------------------- static files

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where `collectstatic` gathers the files WhiteNoise serves (the image runs it at build).
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed copies and content-hashed names, so browsers may cache them for ever.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# ---------------------------------------------------------------- HTTPS and cookies

# Each is on by default whenever DEBUG is off; `manage.py check --deploy` checks them.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Probes speak plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
# Django's defaults, stated: scripts never read the session cookie, and other sites'
# forms and frames do not get it.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
# Scripts read the CSRF token from the page, never from the cookie.
CSRF_COOKIE_HTTPONLY = True
# The language switcher's choice travels like the session does.
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
# Behind a proxy that ends TLS, its X-Forwarded-Proto tells HTTPS requests apart. gunicorn
# believes it from FORWARDED_ALLOW_IPS alone and hands Django the scheme
# (site_config.gunicorn); SECURE_PROXY_SSL_HEADER stays unset, since Django would believe
# the header from any peer.
BEHIND_HTTPS_PROXY = env.bool("BEHIND_HTTPS_PROXY", default=False)
# The proxy's addresses or networks (`*`: any peer), loopback by default, as gunicorn reads
# them: with BEHIND_HTTPS_PROXY on, only a request from one of them may name its own
# X-Request-ID (common.request_id), as only they may say it came over HTTPS.
FORWARDED_ALLOW_IPS = [
    proxy.strip()
    for proxy in env.str("FORWARDED_ALLOW_IPS", default="").split(",")
    if proxy.strip()
] or ["127.0.0.1", "::1"]
for _proxy in FORWARDED_ALLOW_IPS:
    try:
        if _proxy != "*":
            ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"FORWARDED_ALLOW_IPS holds {_proxy!r}: list the proxy's addresses or networks "
            "(10.0.0.5, 10.0.0.0/8), comma separated, or `*` for any peer."
        ) from None

# ---------------------------------------------------------------- email

# Django's own names. .env.example writes each email to a file under var/mail/. The
# default is Django's SMTP backend whose sessions ask for delivery status notifications
# where the server offers them (outbox.smtp.EmailBackend).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="outbox.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
# Seconds one SMTP operation may block before the attempt counts as failed.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# Each worker thread keeps its SMTP connection open from one email to the next (up to
# outbox.smtp's limits); false opens one per email, for a server that dislikes reuse.
EMAIL_KEEP_CONNECTION = env.bool("EMAIL_KEEP_CONNECTION", default=True)
EMAIL_FILE_PATH = env.path("EMAIL_FILE_PATH", default=VAR_DIR / "mail")
# An email provider instead of SMTP: EMAIL_BACKEND names one of anymail's backends
# (anymail.backends.postmark.EmailBackend, ...) and each ANYMAIL_<NAME> variable becomes
# anymail's <NAME> setting (ANYMAIL_POSTMARK_SERVER_TOKEN, ANYMAIL_WEBHOOK_SECRET, ...).
ANYMAIL: dict[str, object] = {
    name.removeprefix("ANYMAIL_"): value
    for name, value in os.environ.items()
    if name.startswith("ANYMAIL_")
}
# Basic-auth credentials ("user:password") the tracking webhooks take; several, comma
# separated, while one is being replaced by another.
if isinstance(ANYMAIL.get("WEBHOOK_SECRET"), str):
    ANYMAIL["WEBHOOK_SECRET"] = [
        secret for secret in str(ANYMAIL["WEBHOOK_SECRET"]).split(",") if secret
    ]
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="webmaster@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where people's messages go: one address, or several comma separated, read by
# contact.emails.admin_addresses; a system check there refuses an empty or invalid one.
ADMIN_EMAIL = env.str("ADMIN_EMAIL", default="admin@localhost")
# Where mail servers send their bounces over SMTP: each email's envelope sender is a
# signed VERP address derived from it (outbox.return_path). Empty: DEFAULT_FROM_EMAIL.
BOUNCE_ADDRESS = env.str("BOUNCE_ADDRESS", default="")
if BOUNCE_ADDRESS and not re.fullmatch(r"[^@\s+]+@[^@\s]+", BOUNCE_ADDRESS):
    raise ImproperlyConfigured(
        f"BOUNCE_ADDRESS must be a plain address without '+', such as bounces@example.org, "
        f"not {BOUNCE_ADDRESS!r}."
    )
# The mailbox BOUNCE_ADDRESS delivers to, read over IMAP by the bounce reader beside
# every worker (outbox.bounce_reader): imaps://user:password@host[:port]/[folder]
# (TLS), or imap:// (STARTTLS before signing in, off loopback). Empty: no bounces are read.
BOUNCE_IMAP_URL = env.str("BOUNCE_IMAP_URL", default="")
# Seconds between two readings of the mailbox, and for one IMAP operation.
BOUNCE_READ_INTERVAL = env.float("BOUNCE_READ_INTERVAL", default=60.0)
BOUNCE_IMAP_TIMEOUT = env.float("BOUNCE_IMAP_TIMEOUT", default=30.0)
# A mail larger than this in the bounce mailbox is set aside unread: a bounce is a
# report and, at most, a copy of one of the site's emails, far smaller.
BOUNCE_MAIL_MAX_BYTES = env.int("BOUNCE_MAIL_MAX_BYTES", default=256 * 1024)
# Where read mails go: recorded on their email's timeline, or kept unmatched (not a
# bounce of ours, a forged one, or one for an email no longer here).
BOUNCE_IMAP_PROCESSED_FOLDER = env.str("BOUNCE_IMAP_PROCESSED_FOLDER", default="Processed")
BOUNCE_IMAP_UNMATCHED_FOLDER = env.str("BOUNCE_IMAP_UNMATCHED_FOLDER", default="Unmatched")
# The site's public address (scheme://host[:port]), without a trailing slash so a path
# can follow it: the email to the administrator links to the message's admin page by it,
# since a worker has no request to take the host from. check --deploy wants https.
SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")

# ---------------------------------------------------------------- delivery of every email

# Attempts per email, of any kind, counted on the row, before it is marked failed.
MESSAGE_MAX_ATTEMPTS = env.int("MESSAGE_MAX_ATTEMPTS", default=5)
# Backoff between attempts after a transient failure: the first wait, doubling up to the
# cap (seconds): 10 s, 20 s, 40 s, 80 s with the defaults.
MESSAGE_RETRY_BACKOFF = env.float("MESSAGE_RETRY_BACKOFF", default=10.0)
MESSAGE_RETRY_BACKOFF_MAX = env.float("MESSAGE_RETRY_BACKOFF_MAX", default=300.0)

# The user directory the sender's email is looked up in, and its bounds.
USER_DIRECTORY_URL = env.str(
    "USER_DIRECTORY_URL", default="https://jsonplaceholder.typicode.com/users"
)
USER_DIRECTORY_CONNECT_TIMEOUT = env.float("USER_DIRECTORY_CONNECT_TIMEOUT", default=3.0)
# The whole lookup, first byte to last, must finish within this many seconds.
USER_DIRECTORY_TOTAL_TIMEOUT = env.float("USER_DIRECTORY_TOTAL_TIMEOUT", default=10.0)
USER_DIRECTORY_MAX_BYTES = env.int("USER_DIRECTORY_MAX_BYTES", default=1024 * 1024)
# Seconds what the directory said of an address (found or not) is kept in the cache;
# failures are never kept. 0 asks the directory for every message.
USER_DIRECTORY_CACHE_SECONDS = env.float("USER_DIRECTORY_CACHE_SECONDS", default=300.0)
# Seconds one delivery attempt may take: a few SMTP operations (each within
# EMAIL_TIMEOUT), the directory's whole lookup, and 30 s for the rest, writing the
# outcome through a database restart included. Dramatiq interrupts an attempt past it,
# and the sweeper takes back an email claimed that long ago by a worker that died.
MESSAGE_ATTEMPT_TIME_LIMIT = 4 * EMAIL_TIMEOUT + USER_DIRECTORY_TOTAL_TIMEOUT + 30
# The sweeper, beside every worker: every MESSAGE_SWEEP_INTERVAL seconds it hands back to
# the relay emails queued for longer than MESSAGE_SWEEP_QUEUED_AFTER past their due
# time (their task was lost) and emails whose worker died mid-attempt (their lease ran
# out).
MESSAGE_SWEEP_INTERVAL = env.float("MESSAGE_SWEEP_INTERVAL", default=30.0)
MESSAGE_SWEEP_QUEUED_AFTER = env.float("MESSAGE_SWEEP_QUEUED_AFTER", default=120.0)
# The outbox relay (outbox.relay), beside every worker, hands each email the web has
# queued to the broker; it looks for new ones every MESSAGE_RELAY_INTERVAL seconds.
MESSAGE_RELAY_INTERVAL = env.float("MESSAGE_RELAY_INTERVAL", default=0.2)

# ---------------------------------------------------------------- task queue

# With REDIS_URL (above): a Redis broker, and `manage.py rundramatiq` runs the workers.
# Without: an in-process broker whose worker threads run inside the web process
# (started by site_config.wsgi), so a single `make run` delivers email with no other
# service.
# Worker threads inside the web process in the embedded mode.
EMBEDDED_WORKER_THREADS = env.int("EMBEDDED_WORKER_THREADS", default=2)
if REDIS_URL:
    BROKER_OPTIONS = {
        # Bounded waits on Redis, so a request that enqueues never hangs on it.
        "client": redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5, socket_timeout=10),
        # A worker silent this long (ms) is dead, and its unacknowledged tasks go back on
        # the queue; 1 in 10 queue reads also looks for such workers, so a killed worker's
        # tasks are running again within about 20 s.
        "heartbeat_timeout": env.int("DRAMATIQ_HEARTBEAT_TIMEOUT_MS", default=15_000),
        "maintenance_chance": 100_000,
    }
    # Worker metrics: every `rundramatiq` forks a Prometheus exposition server (tasks
    # processed, failed, retried, in progress, durations; summed over the worker's
    # processes) on dramatiq_prom_host:dramatiq_prom_port, variables Dramatiq reads
    # itself. Loopback unless told otherwise: compose.yaml opens it to the compose
    # network.
    os.environ.setdefault("dramatiq_prom_host", "127.0.0.1")
    WORKER_METRICS_MIDDLEWARE = ["dramatiq.middleware.prometheus.Prometheus"]
else:
    BROKER_OPTIONS = {}
    # The embedded mode has no exposition server: its worker threads live in the web
    # process.
    WORKER_METRICS_MIDDLEWARE = []
DRAMATIQ_BROKER = {
    "BROKER": (
        "dramatiq.brokers.redis.RedisBroker" if REDIS_URL else "dramatiq.brokers.stub.StubBroker"
    ),
    "OPTIONS": BROKER_OPTIONS,
    # Listed explicitly: django-dramatiq's default names a Prometheus middleware at the
    # path dramatiq 1 exported, and its AdminMiddleware would record every task in a
    # second table beside our own delivery records.
    "MIDDLEWARE": [
        *WORKER_METRICS_MIDDLEWARE,
        "dramatiq.middleware.AgeLimit",
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.ShutdownNotifications",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Pipelines",
        "dramatiq.middleware.Retries",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
        "outbox.smtp.SmtpConnectionsMiddleware",
        "outbox.sweeper.OutboxSweeper",
        "outbox.relay.OutboxRelay",
        "outbox.bounce_reader.BounceReader",
    ],
}

# ---------------------------------------------------------------- logging

# One line per event on stderr, where process managers and containers collect it: a JSON
# object in production, plain text on a developer's machine (DEBUG on). Each carries the
# id of the request it belongs to (common.request_id), in the worker too.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = logging_config(fmt=LOG_FORMAT, level=LOG_LEVEL)
# django-axes announces its settings at every start; only when asked for DEBUG lines.
AXES_VERBOSE = LOG_LEVEL == "DEBUG"

# ---------------------------------------------------------------- errors

# With SENTRY_DSN set, errors of the web and of the worker go to Sentry: unhandled
# exceptions in views and tasks, and every ERROR log line (an email that failed for
# good among them, whose reason may quote the address a server refused). Set here,
# before django-dramatiq builds the broker, as the integrations ask. No request's
# personal data is sent.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.dramatiq import DramatiqIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration(), DramatiqIntegration()],
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
        send_default_pii=False,
        traces_sample_rate=0.0,
    )

# ---------------------------------------------------------------- metrics

# /metrics serves the application's Prometheus metrics to a scraper that sends
# `Authorization: Bearer <METRICS_TOKEN>`; with no token set the endpoint does not exist.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
