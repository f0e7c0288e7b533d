"""The rule language for people: labels of fields and operators, rules written out, the builder's catalogue.

``segmentation/rules.py`` owns what a rule means; this module only says it in words ("Tier is High value",
"Orders ≥ 2", "did “app_open” in the last 7 days"), in the user's language. It works on validated trees only
(``rules.validate_rules`` or ``rules.explain`` output), so every node has the keys its kind requires.
"""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from segmentation.models import RfmSegment, Stage, Tier
from segmentation.rules import ATTRIBUTE_PREFIX, BOOL, EVENT_OPS, FIELDS, LIST_VALUE_OPS, NUMBER, field_spec

FIELD_LABELS: dict[str, Promise] = {
    "name": gettext_lazy("Name"),
    "email": gettext_lazy("E-mail"),
    "phone": gettext_lazy("Phone"),
    "channel": gettext_lazy("Acquisition channel"),
    "created_days_ago": gettext_lazy("Days since added"),
    "consent_email": gettext_lazy("E-mail consent"),
    "consent_sms": gettext_lazy("SMS consent"),
    "tags": gettext_lazy("Tags"),
    "tier": gettext_lazy("Value tier"),
    "stage": gettext_lazy("Lifecycle stage"),
    "rfm_segment": gettext_lazy("RFM segment"),
    "r_score": gettext_lazy("R score (1-5)"),
    "f_score": gettext_lazy("F score (1-5)"),
    "m_score": gettext_lazy("M score (1-5)"),
    "customer_value": gettext_lazy("Customer value"),
    "predicted_value": gettext_lazy("Predicted value (12 months)"),
    "churn_probability": gettext_lazy("Churn probability (0-1)"),
    "p_alive": gettext_lazy("P(alive) (0-1)"),
    "at_risk": gettext_lazy("At risk"),
    "churned": gettext_lazy("Churned"),
    "orders_count": gettext_lazy("Completed orders"),
    "orders_revenue": gettext_lazy("Revenue of completed orders"),
    "last_order_days_ago": gettext_lazy("Days since last order"),
    "bought_channel": gettext_lazy("Bought through channel"),
}

#: How the builder's field menu is grouped, in order.
FIELD_GROUPS: tuple[tuple[Promise, tuple[str, ...]], ...] = (
    (
        gettext_lazy("Customer"),
        ("name", "email", "phone", "channel", "created_days_ago", "consent_email", "consent_sms", "tags"),
    ),
    (
        gettext_lazy("Scores"),
        (
            "tier",
            "stage",
            "rfm_segment",
            "at_risk",
            "churned",
            "customer_value",
            "predicted_value",
            "churn_probability",
            "p_alive",
            "r_score",
            "f_score",
            "m_score",
        ),
    ),
    (gettext_lazy("Orders"), ("orders_count", "orders_revenue", "last_order_days_ago", "bought_channel")),
)

OPERATOR_LABELS: dict[str, Promise] = {
    "eq": gettext_lazy("is"),
    "ne": gettext_lazy("is not"),
    "in": gettext_lazy("is one of"),
    "not_in": gettext_lazy("is none of"),
    "contains": gettext_lazy("contains"),
    "not_contains": gettext_lazy("does not contain"),
    "starts_with": gettext_lazy("starts with"),
    "is_set": gettext_lazy("is set"),
    "is_not_set": gettext_lazy("is not set"),
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "between": gettext_lazy("is between"),
}
#: Numbers read better with symbols.
NUMBER_OPERATOR_LABELS: dict[str, Promise | str] = {**OPERATOR_LABELS, "eq": "=", "ne": "≠"}
EVENT_OPERATOR_LABELS: dict[str, Promise] = {"did": gettext_lazy("did"), "did_not": gettext_lazy("did not do")}
GROUP_LABELS: dict[str, Promise] = {
    "all": gettext_lazy("All of"),
    "any": gettext_lazy("Any of"),
    "not": gettext_lazy("Not"),
}
CHOICE_LABELS: dict[str, dict[str, Any]] = {
    "tier": dict(Tier.choices),
    "stage": dict(Stage.choices),
    "rfm_segment": dict(RfmSegment.choices),
}


def field_label(name: str) -> str:
    if name.startswith(ATTRIBUTE_PREFIX):
        return _("Attribute “%(key)s”") % {"key": name[len(ATTRIBUTE_PREFIX) :]}
    return str(FIELD_LABELS.get(name, name))


def operator_label(field: str, op: str) -> str:
    spec = field_spec(field)
    labels = NUMBER_OPERATOR_LABELS if spec is not None and spec.type == NUMBER else OPERATOR_LABELS
    return str(labels.get(op, op))


def value_text(field: str, value: Any, channel_names: dict[str, str] | None = None) -> str:
    """A condition's value as a person reads it: choice labels, yes/no, "a, b", "1 and 5"."""
    spec = field_spec(field)
    if isinstance(value, list):
        return ", ".join(value_text(field, item, channel_names) for item in value)
    if spec is not None and spec.type == BOOL:
        return _("yes") if value else _("no")
    if field in CHOICE_LABELS:
        return str(CHOICE_LABELS[field].get(value, value))
    if field in ("channel", "bought_channel") and channel_names:
        return channel_names.get(value, value)
    return str(value)


def condition_text(node: dict, channel_names: dict[str, str] | None = None) -> str:
    if "event" in node:
        text = (
            _("did “%(event)s” in the last %(days)s days")
            if node["op"] == "did"
            else _("did not do “%(event)s” in the last %(days)s days")
        )
        return text % {"event": node["event"], "days": node["within_days"]}
    field, op = node["field"], node["op"]
    parts = {"field": field_label(field), "operator": operator_label(field, op)}
    if op in ("is_set", "is_not_set"):
        return _("%(field)s %(operator)s") % parts
    value = node.get("value")
    if op == "between":
        low, high = (value_text(field, item, channel_names) for item in value)
        return _("%(field)s is between %(low)s and %(high)s") % {**parts, "low": low, "high": high}
    return _("%(field)s %(operator)s %(value)s") % {**parts, "value": value_text(field, value, channel_names)}


def describe(node: dict, channel_names: dict[str, str] | None = None) -> dict:
    """A validated (or explained) rule as nested ``{"kind", "text", "children", "matched"}`` for templates."""
    matched = node.get("matched")
    for kind in ("all", "any"):
        if kind in node:
            children = [describe(child, channel_names) for child in node[kind]]
            return {"kind": kind, "text": str(GROUP_LABELS[kind]), "children": children, "matched": matched}
    if "not" in node:
        child = describe(node["not"], channel_names)
        return {"kind": "not", "text": str(GROUP_LABELS["not"]), "children": [child], "matched": matched}
    return {"kind": "condition", "text": condition_text(node, channel_names), "children": [], "matched": matched}


def summary(node: dict, channel_names: dict[str, str] | None = None) -> str:
    """The rule on one line: "all of: Value tier is High value; any of: (Completed orders ≥ 2; At risk is yes)"."""

    def line(item: dict, nested: bool) -> str:
        if item["kind"] == "condition":
            return item["text"]
        inner = "; ".join(line(child, True) for child in item["children"])
        text = f"{item['text'].lower()}: {inner}"
        return f"({text})" if nested and len(item["children"]) > 1 else text

    return line(describe(node, channel_names), False)


def builder_catalogue(*, channels: list[tuple[str, str]], event_names: list[str]) -> dict:
    """Everything the rule builder's menus need, labelled in the active language (``json_script``-ready)."""
    channel_choices = [[code, name] for code, name in channels]
    fields = []
    for group_label, names in FIELD_GROUPS:
        for name in names:
            spec = FIELDS[name]
            if name in CHOICE_LABELS:
                choices = [[value, str(label)] for value, label in CHOICE_LABELS[name].items()]
            elif name in ("channel", "bought_channel"):
                choices = channel_choices
            else:
                choices = None
            labels = NUMBER_OPERATOR_LABELS if spec.type == NUMBER else OPERATOR_LABELS
            fields.append(
                {
                    "name": name,
                    "label": str(FIELD_LABELS[name]),
                    "group": str(group_label),
                    "type": spec.type,
                    "whole": spec.whole,
                    "ops": [[op, str(labels[op])] for op in spec.operators],
                    "choices": choices,
                }
            )
    return {
        "fields": fields,
        "attribute": {
            "label": _("Custom attribute…"),
            "key_label": _("Attribute key"),
            "ops": [[op, str(OPERATOR_LABELS[op])] for op in field_spec("attributes.x").operators],
        },
        "event": {
            "label": _("Did an event…"),
            "name_label": _("Event name"),
            "ops": [[op, str(EVENT_OPERATOR_LABELS[op])] for op in EVENT_OPS],
            "days_label": _("in the last (days)"),
            "names": event_names,
        },
        "groups": [[kind, str(label)] for kind, label in GROUP_LABELS.items()],
        "list_ops": sorted(LIST_VALUE_OPS),
        "text": {
            "add_condition": _("+ Condition"),
            "add_group": _("+ Group"),
            "remove": _("Remove"),
            "remove_group": _("Remove group"),
            "field": _("Field"),
            "operator": _("Operator"),
            "value": _("Value"),
            "yes": _("yes"),
            "no": _("no"),
            "and": _("and"),
            "comma_hint": _("comma-separated"),
            "match": _("match"),
            "not_hint": _("A “not” group holds one rule; add a group inside it to negate several."),
            "json_invalid": _("This is not valid JSON yet: %(error)s"),
            "json_not_group": _("Fix the JSON before going back to the builder."),
            "group_label": _("Group"),
        },
    }
