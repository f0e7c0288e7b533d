"""Settings shared by every environment, read from the environment with django-environ.

With no environment set, custops runs on SQLite under ``var/`` with Celery tasks executed eagerly and a
local-memory cache (the "embedded default"), so a newcomer needs nothing but Python. Setting
``DATABASE_URL`` and ``REDIS_URL`` switches to PostgreSQL and Redis without touching code.
"""

import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

from config.observability.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(str(env_file))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-local-only-key-change-me-0123456789abcdefghijklmnop")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "config.admin.PlatformAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "csp",
    "accounts",
    "webhooks",
    "crm",
    "retention",
    "segmentation",
    "campaigns",
    "reporting",
]

MIDDLEWARE = [
    # Outermost: the request id, the latency metric and the request log cover every other layer's work.
    "config.observability.middleware.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.security_headers.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.CurrentOrganizationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Stores the answers of API writes sent with an Idempotency-Key (config/api/idempotency.py).
    "config.api.idempotency.IdempotencyMiddleware",
    # Last, as django-axes asks: turns a sign-in refused by the lockout into the login page with its message.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.organization",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'custops.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# The axes backend comes first: it refuses a locked-out username and address before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sign-in lockout (django-axes): after AXES_FAILURE_LIMIT failed sign-ins for one e-mail address from one client
# address, that pair is refused for AXES_COOLOFF_TIME; a successful sign-in clears its failures. Counting per
# pair, not per address alone, keeps one office behind a shared address from locking all its people out.
# Failures are kept in the database (AccessAttempt), not the cache: every web process sees the same count
# whatever the cache is (local memory in the demo is per process), a cache flush does not unlock anyone, and
# the Django admin and `manage.py axes_reset_username` can show and clear them.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("CUSTOPS_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("CUSTOPS_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The login form posts the e-mail address as "username" (Django's AuthenticationForm), whatever USERNAME_FIELD is.
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
# Attempts made while locked out do not push the end of the cool-off further away: a person who retries in good
# faith gets in when the page said they would.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "accounts.views.login_locked_out"
AXES_CLIENT_IP_CALLABLE = "accounts.client_address.client_ip_address"
# Successful sign-ins are not logged by axes (the table would grow without bound); failures are, until reset.
AXES_DISABLE_ACCESS_LOG = True
# No start-up banner in every management command's output.
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]
# How many reverse proxies in front of the web processes append to X-Forwarded-For (0: clients connect directly).
# The client's address is read that many entries from the right, so a client cannot choose its own by sending
# the header itself.
CUSTOPS_TRUSTED_PROXY_COUNT = env.int("CUSTOPS_TRUSTED_PROXY_COUNT", default=0)

# Sessions: a signed-in session lasts CUSTOPS_SESSION_HOURS from sign-in (a working day by default), in a cookie
# scripts cannot read and other sites' forms do not carry. The CSRF token reaches htmx and the API docs through
# the page, never the cookie, so that cookie is out of scripts' reach too. (Secure flags: production.py.)
SESSION_COOKIE_AGE = env.int("CUSTOPS_SESSION_HOURS", default=12) * 60 * 60
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
# No address of ours (customer ids, search terms in the URL) goes to another site in the Referer header; pages we
# open do not get a handle on ours (window.opener); nobody frames us (also frame-ancestors in the CSP below).
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Browser features no page of ours uses, switched off (config/security_headers.py).
CUSTOPS_PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "usb",
        "xr-spatial-tracking",
    )
}

# Content Security Policy (django-csp) on every response: scripts, styles, fonts and requests from this site only,
# no inline script or style (templates keep theirs in static/ files), no plugins, and no page of ours inside
# another site's frame. The API docs page keeps to it too (config/api_docs.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
    },
}

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = env("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media"))

# Broker and cache: Redis when REDIS_URL is set, otherwise eager tasks and local memory.
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    # The cache lives in the next Redis database, so clearing it can never drop queued tasks.
    _broker = urlsplit(REDIS_URL)
    _cache_db = int(_broker.path.strip("/") or 0) + 1
    REDIS_CACHE_URL = env("REDIS_CACHE_URL", default=urlunsplit(_broker._replace(path=f"/{_cache_db}")))
    # Reads miss and writes are dropped while Redis is unreachable (config/cache.py); a second to connect or
    # answer, so an outage costs a page that long at most instead of the client's default of forever.
    CACHES = {
        "default": {
            "BACKEND": "config.cache.OutageTolerantRedisCache",
            "LOCATION": REDIS_CACHE_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://localhost/"
    CELERY_RESULT_BACKEND = "cache+memory://"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TIMEZONE = "UTC"
# Reliability (docs/reliability.md has the whole table, task by task, and the fault tests behind it):
# * Tasks that are safe to run twice acknowledge late (``acks_late=True`` on the task): a worker killed mid-task
#   leaves the message unacknowledged and Redis hands it to another worker after the visibility timeout.
#   Each of them claims its rows in PostgreSQL first, so the second copy of a message that did finish is a no-op.
# * ``reject_on_worker_lost`` only where a task cannot crash its worker by itself (a campaign batch, a webhook
#   delivery); the nightly run and an import could be OOM-killed by their own size, and re-queuing them at once
#   would loop: beat's sweeps re-send those instead, once the dead run is known dead.
# * A hard time limit above the longest task (the nightly of 3M customers takes minutes, not an hour), and the
#   visibility timeout above both it and the longest retry countdown.
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=60 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT * 11 // 12
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A worker waits out a broker outage (Redis restarting, a failover) however long it lasts, instead of exiting;
# tasks running meanwhile carry on (their messages come back later, and their claims make the copy a no-op).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Seconds before Redis gives a task that a worker took but never acknowledged (the worker was SIGKILLed, its host
# lost) to another worker. It must exceed the longest wait a worker holds a message for: the longest task, the
# longest retry countdown (webhooks: 1 h) and the longest ETA (campaign batches wait out quiet hours, up to 11 h);
# otherwise the message is delivered again while still waiting. Work a dead worker left is picked up sooner by the
# beat sweeps (docs/reliability.md), so a long timeout costs nothing.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=12 * 60 * 60)}
CELERY_BEAT_SCHEDULE = {
    # Hourly: each organization's run starts once its chosen hour (Organization.nightly_hour, its own time zone)
    # has come, and only once per day. A fanout still queued when the next one is sent is dropped, so a backlog
    # built up while no worker ran does not enqueue the same runs many times over.
    # Imports whose worker died (their rows were rolled back) are run again from the start.
    "imports-requeue-stale": {"task": "crm.tasks.requeue_stale_imports", "schedule": crontab(minute="*/5")},
    # Every minute: scheduled campaigns start, recurring ones enroll newcomers (hourly), claims of dead workers
    # are recovered and lost batches queued again (campaigns.services.campaigns_tick).
    "campaigns-tick": {"task": "campaigns.tasks.tick", "schedule": crontab(minute="*"), "options": {"expires": 50}},
    # NIGHTLY_FANOUT_MINUTE is a crontab minute field: "5" (the default) is once an hour; "*" checks every
    # minute, for staging and the integration test that watches beat start a run.
    "nightly-fanout": {
        "task": "reporting.tasks.nightly_fanout",
        "schedule": crontab(minute=env("NIGHTLY_FANOUT_MINUTE", default="5")),
        "options": {"expires": 55 * 60},
    },
    # Every minute: webhook deliveries whose retry is due, or whose worker died mid-attempt (lease lapsed), are
    # queued again (webhooks.services.deliveries_retry_due).
    "webhooks-retry-due": {
        "task": "webhooks.tasks.retry_due",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    # Hourly: API idempotency keys older than CUSTOPS_IDEMPOTENCY_TTL_HOURS are deleted (they are ignored anyway).
    "idempotency-keys-purge": {
        "task": "accounts.tasks.purge_idempotency_keys",
        "schedule": crontab(minute="40"),
        "options": {"expires": 55 * 60},
    },
    # Hourly: the weekly digest goes out on Monday from 08:00 in each organization's time zone, once per member
    # and week (reporting.digest); asking every hour covers every time zone and retries a missed hour.
    "weekly-digest-fanout": {
        "task": "reporting.tasks.weekly_digest_fanout",
        "schedule": crontab(minute="20"),
        "options": {"expires": 55 * 60},
    },
    # Daily: customer events older than each organization's event_retention_days, and webhook history older than
    # WEBHOOK_HISTORY_DAYS, are deleted in bounded batches (crm.privacy.retention_purge), each purge audit-logged.
    "privacy-retention-purge": {
        "task": "crm.tasks.retention_purge_fanout",
        "schedule": crontab(hour="3", minute="50"),
        "options": {"expires": 23 * 60 * 60},
    },
}

# Without a mail server (the demo), e-mail is written to files under var/sent-mail/, one file per connection.
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(VAR_DIR / "sent-mail"))
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="custops <noreply@custops.local>")
# A mail server that does not answer within this many seconds counts as down (the send is retried later).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
# Where customers reach custops from their mailbox: tracking pixel, click redirects, unsubscribe links.
CUSTOPS_PUBLIC_URL = env("CUSTOPS_PUBLIC_URL", default="http://127.0.0.1:8000")
# Campaign sending (campaigns/services.py): messages per task, and how long a claimed delivery may stay
# "sending" before its worker is presumed dead (longer than a batch can take with EMAIL_TIMEOUT per message).
CAMPAIGN_BATCH_SIZE = env.int("CAMPAIGN_BATCH_SIZE", default=200)
CAMPAIGN_CLAIM_LEASE_SECONDS = env.int("CAMPAIGN_CLAIM_LEASE_SECONDS", default=15 * 60)
# Webhook delivery (webhooks/services.py): a 2xx within WEBHOOK_TIMEOUT_SECONDS is a success; failures are
# retried after WEBHOOK_RETRY_BASE_SECONDS, doubling up to WEBHOOK_RETRY_MAX_SECONDS, for WEBHOOK_RETRY_WINDOW_SECONDS,
# then abandoned. A worker holds a delivery for WEBHOOK_CLAIM_LEASE_SECONDS (keep it above the timeout).
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10)
WEBHOOK_RETRY_BASE_SECONDS = env.int("WEBHOOK_RETRY_BASE_SECONDS", default=60)
WEBHOOK_RETRY_MAX_SECONDS = env.int("WEBHOOK_RETRY_MAX_SECONDS", default=60 * 60)
WEBHOOK_RETRY_WINDOW_SECONDS = env.int("WEBHOOK_RETRY_WINDOW_SECONDS", default=24 * 60 * 60)
WEBHOOK_CLAIM_LEASE_SECONDS = env.int("WEBHOOK_CLAIM_LEASE_SECONDS", default=60)
# The beat task re-queues a pending delivery only once it is this overdue (its own message may still be queued).
WEBHOOK_RETRY_DUE_GRACE_SECONDS = env.int("WEBHOOK_RETRY_DUE_GRACE_SECONDS", default=120)
# Endpoint hosts that resolve to loopback, private, link-local, multicast or reserved addresses are refused (at
# save and at send time: server-side request forgery). Only tests and local development may allow them.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=False)
# Privacy (crm/privacy.py): webhook events, deliveries and attempts are kept this many days (payloads carry
# customers' data); customer events as long as each organization's event_retention_days says. Erasure turns
# e-mail addresses and external ids into keyed hashes with CUSTOPS_PRIVACY_HASH_KEY: keep it when SECRET_KEY
# rotates, or erased addresses no longer match their suppression.
WEBHOOK_HISTORY_DAYS = env.int("WEBHOOK_HISTORY_DAYS", default=30)
CUSTOPS_PRIVACY_HASH_KEY = env("CUSTOPS_PRIVACY_HASH_KEY", default=SECRET_KEY)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.OrganizationPermission"],
    "DEFAULT_PAGINATION_CLASS": "config.api.pagination.IdCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.api.parsers.SafeJSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Rate limits first; the idempotency gate last, so a refused request never takes a key.
    "DEFAULT_THROTTLE_CLASSES": [
        "config.api.throttling.ApiKeyRateThrottle",
        "config.api.throttling.UserRateThrottle",
        "config.api.idempotency.IdempotencyGate",
    ],
}
# API rate limits (config/api/throttling.py): "<count>/<period>" (s, min, h, day; "100/10s"), "off" disables.
# Per API key and per signed-in person, counted in the cache (Redis when REDIS_URL is set) in fixed windows.
CUSTOPS_API_RATE_PER_KEY = env("CUSTOPS_API_RATE_PER_KEY", default="1200/min")
CUSTOPS_API_RATE_PER_USER = env("CUSTOPS_API_RATE_PER_USER", default="600/min")
# Idempotency-Key (config/api/idempotency.py): how long an answer is replayed, and how long a claim of a request
# still running blocks retries before it counts as abandoned (longer than any request may run: gunicorn's 30 s).
CUSTOPS_IDEMPOTENCY_TTL_HOURS = env.int("CUSTOPS_IDEMPOTENCY_TTL_HOURS", default=24)
CUSTOPS_IDEMPOTENCY_LEASE_SECONDS = env.int("CUSTOPS_IDEMPOTENCY_LEASE_SECONDS", default=120)
SPECTACULAR_SETTINGS = {
    "TITLE": "custops API",
    "DESCRIPTION": "Customer operations: customers, orders, channels, spend, events, feedback, notes and tasks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ChannelKindEnum": "crm.models.ChannelKind",
        "FeedbackKindEnum": "crm.models.FeedbackKind",
        "ImportKindEnum": "crm.models.ImportKind",
    },
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No badge from the public validator: the page may load nothing from another site (CONTENT_SECURITY_POLICY).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    # The enum hook is drf-spectacular's default; ours gives ?fields= responses components whose only
    # required property is the identity (config/api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api.schema.sparse_fieldset_responses",
    ],
}

# How far in the future a business date (order, event, answer) may lie before it is rejected as absurd.
CUSTOPS_FUTURE_TOLERANCE_HOURS = env.int("CUSTOPS_FUTURE_TOLERANCE_HOURS", default=48)
# The largest CSV file an upload may bring (the command line has no limit).
CUSTOPS_IMPORT_MAX_BYTES = env.int("CUSTOPS_IMPORT_MAX_BYTES", default=2 * 1024**3)
# The largest single order amount accepted; anything above is treated as a data error.
CUSTOPS_MAX_ORDER_AMOUNT = env("CUSTOPS_MAX_ORDER_AMOUNT", default="10000000")

# Operations (config/health.py, config/observability/, README "Running in production").
# Readiness: no worker heartbeat for this long, or an organization's last successful nightly run older than this,
# is reported "stale" (a warning, still 200); workers write their heartbeat at most this often.
CUSTOPS_READY_WORKER_MAX_AGE_SECONDS = env.int("CUSTOPS_READY_WORKER_MAX_AGE_SECONDS", default=120)
CUSTOPS_READY_NIGHTLY_MAX_AGE_HOURS = env.int("CUSTOPS_READY_NIGHTLY_MAX_AGE_HOURS", default=26)
CUSTOPS_WORKER_HEARTBEAT_WRITE_SECONDS = env.int("CUSTOPS_WORKER_HEARTBEAT_WRITE_SECONDS", default=15)
# Prometheus: /metrics (and a worker's metrics port) answer only "Authorization: Bearer <token>"; unset, /metrics
# is a 404 and workers serve nothing. A worker serves its metrics on this port when set (0: none).
CUSTOPS_METRICS_TOKEN = env("CUSTOPS_METRICS_TOKEN", default="")
CUSTOPS_WORKER_METRICS_PORT = env.int("CUSTOPS_WORKER_METRICS_PORT", default=0)
CUSTOPS_WORKER_METRICS_ADDRESS = env("CUSTOPS_WORKER_METRICS_ADDRESS", default="0.0.0.0")  # noqa: S104 - containers
# Logs: "plain" lines here, "json" lines in production (config/observability/logs.py).
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env("DJANGO_LOG_LEVEL", default="INFO"))
