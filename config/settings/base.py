"""Settings shared by every environment, read from the environment with django-environ.

With no environment set, custops runs on SQLite under ``var/`` with Celery tasks executed eagerly and a
local-memory cache (the "embedded default"), so a newcomer needs nothing but Python. Setting
``DATABASE_URL`` and ``REDIS_URL`` switches to PostgreSQL and Redis without touching code.
"""

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

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
    "accounts",
    "webhooks",
    "crm",
    "retention",
    "segmentation",
    "campaigns",
    "reporting",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

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
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_CACHE_URL}}
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
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 55 * 60
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Seconds before Redis gives a task that a worker took but never acknowledged (the worker was SIGKILLed, its
# host lost) to another worker. Keep it above the longest retry countdown, or a waiting retry is delivered twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 60 * 60)}
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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
