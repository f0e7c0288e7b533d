"""Message templates, personalization and quiet hours (no Django models, no database).

Templates use ``{{ variable }}`` and nothing else: no logic, no filters, no attribute access. A marketer's
template is data, so it must not be able to read anything but the variables listed here, and a typo in a
variable name is an error when the campaign is saved, not a blank in ten thousand inboxes.
"""

from __future__ import annotations

import datetime
import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

VARIABLES: dict[str, str] = {
    "name": "The customer's name (or e-mail when no name is known).",
    "first_name": "The first word of the name.",
    "email": "The customer's e-mail address.",
    "offer_code": "The variant's offer code.",
    "tier": "The customer's value tier (high, mid, potential).",
    "unsubscribe_url": "The customer's one-click unsubscribe link (added to every e-mail anyway).",
}

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_STRAY = re.compile(r"\{\{|\}\}|\{%|%\}")
_LINK_SLOT = re.compile("\x00([0-9]+)\x00")
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")


class TemplateError(ValueError):
    """A template names a variable that does not exist or is malformed; the message says which."""


def check_template(text: str) -> list[str]:
    """The problems of one template (empty when it is valid)."""
    problems: list[str] = []
    for match in _PLACEHOLDER.finditer(text):
        name = match.group(1)
        if name not in VARIABLES:
            known = ", ".join(VARIABLES)
            problems.append(f"Unknown variable {{{{ {name} }}}}; use one of: {known}.")
    if _STRAY.search(_PLACEHOLDER.sub("", text)):
        problems.append("Unbalanced braces: write variables as {{ name }}, with nothing else inside.")
    return problems


def render(text: str, context: Mapping[str, str]) -> str:
    """Fill the placeholders; raises TemplateError for an unknown variable."""
    problems = check_template(text)
    if problems:
        raise TemplateError(problems[0])
    return _PLACEHOLDER.sub(lambda match: str(context.get(match.group(1), "")), text)


def first_name(name: str) -> str:
    parts = name.split()
    return parts[0] if parts else ""


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str


def render_message(
    *,
    subject: str,
    body: str,
    context: Mapping[str, str],
    track_link: Callable[[str], str] | None = None,
    pixel_url: str = "",
    unsubscribe_url: str = "",
    unsubscribe_label: str = "Unsubscribe",
) -> RenderedMessage:
    """Subject, plain text and HTML of one message; links go through ``track_link`` when given.

    The HTML part is the escaped text with links and line breaks, the open pixel and the unsubscribe link: the
    template itself is plain text, so a template can never inject markup into a customer's mailbox.
    """
    filled_subject = " ".join(render(subject, context).split())
    # Only links the marketer wrote are tracked and linked (and the unsubscribe link): they are set aside as slots
    # before the customer's own values are filled in, so a name that looks like a URL never becomes a signed
    # custops redirect or a link.
    links: list[str] = []

    def slot(url: str) -> str:
        links.append(url)
        return f"\x00{len(links) - 1}\x00"

    body = body.replace("\x00", "")
    template = _URL.sub(lambda match: slot(track_link(match.group(0)) if track_link else match.group(0)), body)
    values = {name: str(value).replace("\x00", "") for name, value in context.items()}
    values["unsubscribe_url"] = slot(unsubscribe_url) if unsubscribe_url else ""
    filled = render(template, values)
    pieces = []
    position = 0
    for match in _LINK_SLOT.finditer(filled):
        pieces.append(html.escape(filled[position : match.start()]))
        url = html.escape(links[int(match.group(1))], quote=True)
        pieces.append(f'<a href="{url}">{url}</a>')
        position = match.end()
    pieces.append(html.escape(filled[position:]))
    text = _LINK_SLOT.sub(lambda match: links[int(match.group(1))], filled)
    html_body = "".join(pieces).replace("\r\n", "\n").replace("\n", "<br>\n")
    footer = ""
    if unsubscribe_url:
        footer = (
            f'<p style="font-size:12px;color:#666"><a href="{html.escape(unsubscribe_url, quote=True)}">'
            f"{html.escape(unsubscribe_label)}</a></p>"
        )
        text = f"{text}\n\n--\n{unsubscribe_label}: {unsubscribe_url}\n"
    pixel = f'<img src="{html.escape(pixel_url, quote=True)}" width="1" height="1" alt="">' if pixel_url else ""
    return RenderedMessage(
        subject=filled_subject,
        text=text,
        html=f"<!doctype html><html><body><div>{html_body}</div>{footer}{pixel}</body></html>",
    )


def quiet_until(local_now: datetime.datetime, *, start_hour: int, end_hour: int) -> datetime.datetime | None:
    """When the quiet hours around ``local_now`` end, or None when sending is allowed now.

    Quiet hours run from ``start_hour`` to ``end_hour`` in the organization's time zone and may wrap past
    midnight (21 → 8); equal hours mean no quiet hours.
    """
    if start_hour == end_hour:
        return None
    hour = local_now.hour
    quiet = start_hour <= hour < end_hour if start_hour < end_hour else hour >= start_hour or hour < end_hour
    if not quiet:
        return None
    end = local_now.replace(hour=end_hour, minute=0, second=0, microsecond=0)
    if end <= local_now:
        end += datetime.timedelta(days=1)
    return end
