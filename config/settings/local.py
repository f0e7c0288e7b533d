"""Laptop settings: debug on, the embedded defaults of base.py, e-mail printed to the console."""

from config.settings.base import *  # noqa: F403
from config.settings.base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
