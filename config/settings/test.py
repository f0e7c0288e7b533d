"""Test settings: fast password hashing, in-memory e-mail; database and Redis as the environment says."""

from config.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# The suite sends many API requests as the same ids (SQLite reuses them after each rollback): limits high enough
# never to bite; tests/api_throttling/ sets tiny ones.
CUSTOPS_API_RATE_PER_KEY = "1000000/min"
CUSTOPS_API_RATE_PER_USER = "1000000/min"

# The webhook tests deliver to a receiver on 127.0.0.1 (tests/webhooks/conftest.py); the SSRF guard is tested by
# overriding this back to False.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
