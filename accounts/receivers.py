"""Receivers for signals sent by libraries, kept thin: each calls one service."""

from __future__ import annotations

import datetime
from typing import Any

from axes.helpers import get_cool_off
from django.http import HttpRequest

from accounts.services import login_lockout_record


def record_login_lockout(sender: Any, request: HttpRequest, username: str | None, ip_address: str | None, **kwargs):
    """django-axes locked a sign-in (e-mail + client address): audit it for the person's organizations."""
    login_lockout_record(email=username, ip_address=ip_address, cooloff=get_cool_off(request) or datetime.timedelta(0))
