"""Logging: one JSON object per line in production, plain text on a laptop, with request and task context.

``LOG_FORMAT`` chooses (``json`` or ``plain``; production defaults to ``json``, everything else to ``plain``).
Every record gets ``request_id`` (set by ``RequestObservabilityMiddleware`` for the request being served) and,
inside a Celery task, ``task_id`` and ``task_name``. Log lines carry ids only: organization, user, customer and
job ids, never names, e-mail addresses or phone numbers (tests/test_observability_logs.py imports a file and
creates a customer and asserts that none of their personal data reaches any log record).

This module is imported by the settings, so it imports nothing from Django or Celery at load time.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
from typing import Any

#: The id of the request being served in this thread/context ("" outside a request).
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("custops_request_id", default="")

#: Attributes every LogRecord has; anything else on a record was passed with ``extra=`` and is emitted as a field.
_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime", "taskName"}
)
#: Context fields the filter adds; emitted only when set.
_CONTEXT_FIELDS = ("request_id", "task_id", "task_name")


def _current_task() -> tuple[str, str]:
    """The id and name of the Celery task running in this thread, or empty strings."""
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover - celery is a runtime dependency
        return "", ""
    task = current_task
    if task is None:
        return "", ""
    try:
        task_id = task.request.id
    except AttributeError:
        return "", ""
    if not task_id:
        return "", ""
    return str(task_id), str(task.name)


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``task_id`` and ``task_name`` to every record (empty when there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = request_id_var.get()
        if not getattr(record, "task_id", ""):
            record.task_id, record.task_name = _current_task()
        return True


class PlainFormatter(logging.Formatter):
    """The laptop format, with the request or task id in brackets when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        context = [f"{name}={getattr(record, name)}" for name in ("request_id", "task_id") if getattr(record, name, "")]
        record.context = f" [{' '.join(context)}]" if context else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, context and ``extra`` fields.

    An exception adds ``exc_type`` (its class) and ``exc_info`` (the traceback). Values that JSON cannot hold
    are written with ``str()``.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name, "")
            if value:
                entry[name] = value
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRIBUTES and name not in _CONTEXT_FIELDS and name != "context":
                entry[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """The ``LOGGING`` dict for ``log_format`` (``json`` or ``plain``) with the root logger at ``level``.

    ``django.db.backends`` stays at WARNING whatever the level: at DEBUG it would log every SQL statement with its
    parameters, personal data included.
    """
    if log_format not in {"json", "plain"}:
        raise ValueError(f"LOG_FORMAT must be 'json' or 'plain', not {log_format!r}")
    formatter = (
        "config.observability.logs.JsonFormatter"
        if log_format == "json"
        else "config.observability.logs.PlainFormatter"
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "config.observability.logs.ContextFilter"}},
        "formatters": {"default": {"()": formatter}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "default", "filters": ["context"]}},
        "root": {"handlers": ["console"], "level": level},
        # django-axes reports every sign-in at INFO; its warnings (failures, lockouts) are the ones worth keeping.
        "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
    }


def gunicorn_logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """``logconfig_dict`` for gunicorn (config/gunicorn.conf.py): its master and error log in the same format.

    Gunicorn's access log stays off: it prints the raw path and query string (``/api/v1/customers/?q=<e-mail>``),
    while the request log line of ``RequestObservabilityMiddleware`` names the route instead.
    """
    config = logging_config(log_format=log_format, level=level)
    config["loggers"]["gunicorn.error"] = {"handlers": ["console"], "level": "INFO", "propagate": False}
    return config
