"""The segment rule language: a JSON tree of conditions, validated with clear errors and compiled to one query.

Marketers build segments in the browser and through the API, so a rule arrives as untrusted JSON. It is
checked against a fixed catalogue of fields and operators (``FIELDS``, ``OPERATORS``) before anything
touches the database, and then compiled to a single ``Q`` over ``Customer`` (joins only on to-one relations,
``Exists``/scalar subqueries for orders and events), so a segment of a million customers is one SQL statement
and never a Python loop.

Rule JSON
---------
A node is a group, a field condition or an event condition::

    {"all": [node, ...]}                  every child matches (AND); never empty
    {"any": [node, ...]}                  at least one child matches (OR); never empty
    {"not": node}                         the child does not match
    {"field": "tier", "op": "eq", "value": "high"}
    {"field": "email", "op": "is_set"}    is_set / is_not_set take no value
    {"event": "cart_abandoned", "op": "did", "within_days": 7}     op: did | did_not; 1 <= within_days <= 3650

Example: high- or mid-tier customers who bought in the last 30 days, consent to e-mail and did not open
the app this week::

    {"all": [
        {"field": "tier", "op": "in", "value": ["high", "mid"]},
        {"field": "last_order_days_ago", "op": "lte", "value": 30},
        {"field": "consent_email", "op": "eq", "value": true},
        {"not": {"event": "app_open", "op": "did", "within_days": 7}},
        {"any": [
            {"field": "tags", "op": "contains", "value": "vip"},
            {"field": "attributes.city", "op": "eq", "value": "Shanghai"},
            {"field": "orders_revenue", "op": "between", "value": [500, 5000]}
        ]}
    ]}

Fields (see ``FIELDS``): the customer's ``name``, ``email``, ``phone`` (text), ``channel`` (acquisition
channel code), ``created_days_ago``, ``consent_email``, ``consent_sms``, ``tags`` (list) and
``attributes.<key>`` (a custom attribute, compared as text); the nightly scores ``tier``, ``stage``,
``rfm_segment`` (choices of the score model), ``r_score``, ``f_score``, ``m_score``, ``customer_value``,
``predicted_value``, ``churn_probability``, ``p_alive`` (numbers), ``at_risk``, ``churned`` (booleans); and
aggregates over *completed* orders: ``orders_count``, ``orders_revenue``, ``last_order_days_ago`` and
``bought_channel`` ("bought at least once through channel X").

Operators by type: text ``eq ne in not_in contains starts_with is_set is_not_set``; number ``eq ne gt gte lt
lte between is_set is_not_set`` (``between`` takes ``[low, high]``, both included); bool ``eq``; choice ``eq ne
in not_in is_set is_not_set`` (``bought_channel``: ``eq ne in not_in``); list ``contains not_contains``. There
is deliberately no regular-expression operator: a pattern from a form can take a database down
(catastrophic backtracking), and ``contains`` / ``starts_with`` cover what segments need.

Semantics
---------
* Missing values. A customer without a score row, a NULL score, an empty text ("" is how the CRM stores
  "not given"), an absent or null attribute and ``last_order_days_ago`` of a customer who never completed an
  order are *missing*. A missing value never matches a positive comparison (``eq in contains starts_with gt
  gte lt lte between is_set``) and always matches its negation (``ne not_in not_contains is_not_set``), which
  is defined as exactly "not the positive one". Every node is therefore true or false, never SQL's unknown,
  and ``{"not": X}`` is always the complement of ``X``: ``not (tier eq high)`` includes customers who were
  never scored, and so does ``tier ne high``. ``orders_count`` and ``orders_revenue`` are 0, not missing,
  for a customer without orders.
* Case. ``eq``, ``in`` (and their negations) compare text exactly; ``contains`` and ``starts_with`` ignore
  case (SQLite folds ASCII letters only; PostgreSQL folds all). Tags match exactly, case included.
* Days. "N days ago" counts calendar days in the organization's time zone back from ``today``: an order
  placed yesterday at 23:59 local time is 1 day ago. ``within_days: N`` means at most N days ago, the same
  as ``last_order_days_ago lte N``. Day counts, counts and 1-5 scores take whole numbers only.
* Attributes are compared as text: ``eq`` / ``in`` match string values only; ``contains`` / ``starts_with``
  read the value's text. Keys follow ``^[A-Za-z0-9_]{1,50}$``, without ``__`` and not all digits (those
  would address nested paths or array items).
* Tenancy. Every order, event and channel subquery is filtered on the organization, so rows of another
  organization never make a customer match, even when they point at the customer.

Limits (bad input must fail fast and clearly): groups nest at most 6 deep, at most 100 conditions, strings
of at most 200 characters, ``in`` lists of at most 500 items. Errors are a ``ValidationError`` whose dict
maps a JSON path such as ``rules.all[1].any[0].op`` to messages that name what is allowed.
"""

from __future__ import annotations

import datetime
import difflib
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    DecimalField,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.db.models.lookups import Exact, GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual

from crm.models import Customer, Event, Order, OrderStatus
from segmentation.models import RfmSegment, Stage, Tier

if TYPE_CHECKING:
    from accounts.models import Organization

MAX_DEPTH = 6
MAX_CONDITIONS = 100
MAX_STRING = 200
MAX_LIST = 500
MAX_ABS_NUMBER = 10**12
MAX_DAYS = 36500
MAX_WITHIN_DAYS = 3650
ATTRIBUTE_PREFIX = "attributes."
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_]{1,50}$")

TEXT, NUMBER, BOOL, CHOICE, LIST = "text", "number", "bool", "choice", "list"

#: Operators each field type accepts, in the order error messages list them.
OPERATORS: dict[str, tuple[str, ...]] = {
    TEXT: ("eq", "ne", "in", "not_in", "contains", "starts_with", "is_set", "is_not_set"),
    NUMBER: ("eq", "ne", "gt", "gte", "lt", "lte", "between", "is_set", "is_not_set"),
    BOOL: ("eq",),
    CHOICE: ("eq", "ne", "in", "not_in", "is_set", "is_not_set"),
    LIST: ("contains", "not_contains"),
}
ALL_OPERATORS = frozenset(op for ops in OPERATORS.values() for op in ops)
#: Each negative operator is exactly the complement of its positive one (see "Missing values").
NEGATIONS = {"ne": "eq", "not_in": "in", "not_contains": "contains", "is_not_set": "is_set"}
NO_VALUE_OPS = frozenset({"is_set", "is_not_set"})
LIST_VALUE_OPS = frozenset({"in", "not_in"})
EVENT_OPS = ("did", "did_not")
GROUP_KEYS = ("all", "any", "not")


@dataclass(frozen=True)
class FieldSpec:
    """One field of the catalogue: its type, how it is compiled (``kind``) and the ORM path it reads."""

    type: str
    kind: str
    lookup: str = ""
    choices: tuple[str, ...] | None = None
    whole: bool = False
    number: type = float
    ops: tuple[str, ...] | None = None

    @property
    def operators(self) -> tuple[str, ...]:
        return self.ops or OPERATORS[self.type]


def _score(type_: str, name: str, **kwargs: Any) -> FieldSpec:
    return FieldSpec(type_, "column", f"score__{name}", **kwargs)


#: The fields a rule may name. ``attributes.<key>`` is added dynamically (see ``field_spec``).
FIELDS: dict[str, FieldSpec] = {
    "name": FieldSpec(TEXT, "column", "name"),
    "email": FieldSpec(TEXT, "column", "email"),
    "phone": FieldSpec(TEXT, "column", "phone"),
    "channel": FieldSpec(CHOICE, "channel", "channel__code"),
    "created_days_ago": FieldSpec(NUMBER, "created_days_ago", "created_at", whole=True),
    "consent_email": FieldSpec(BOOL, "column", "consent_email"),
    "consent_sms": FieldSpec(BOOL, "column", "consent_sms"),
    "tags": FieldSpec(LIST, "tags", "tags"),
    "tier": _score(CHOICE, "tier", choices=tuple(Tier.values)),
    "stage": _score(CHOICE, "stage", choices=tuple(Stage.values)),
    "rfm_segment": _score(CHOICE, "rfm_segment", choices=tuple(RfmSegment.values)),
    "r_score": _score(NUMBER, "r_score", whole=True, number=int),
    "f_score": _score(NUMBER, "f_score", whole=True, number=int),
    "m_score": _score(NUMBER, "m_score", whole=True, number=int),
    "customer_value": _score(NUMBER, "customer_value", number=Decimal),
    "predicted_value": _score(NUMBER, "predicted_value", number=Decimal),
    "churn_probability": _score(NUMBER, "churn_probability"),
    "p_alive": _score(NUMBER, "p_alive"),
    "at_risk": _score(BOOL, "at_risk"),
    "churned": _score(BOOL, "churned"),
    "orders_count": FieldSpec(NUMBER, "orders_count", whole=True, number=int),
    "orders_revenue": FieldSpec(NUMBER, "orders_revenue", number=Decimal),
    "last_order_days_ago": FieldSpec(NUMBER, "last_order_days_ago", whole=True),
    "bought_channel": FieldSpec(CHOICE, "bought_channel", ops=("eq", "ne", "in", "not_in")),
}
ATTRIBUTE_SPEC = FieldSpec(TEXT, "attribute")
FIELD_NAMES = ", ".join([*FIELDS, "attributes.<key>"])


def field_spec(name: str) -> FieldSpec | None:
    """The catalogue entry for ``name``, including any well-formed ``attributes.<key>``."""
    if name.startswith(ATTRIBUTE_PREFIX):
        return ATTRIBUTE_SPEC
    return FIELDS.get(name)


# --------------------------------------------------------------------------------------------- validation


class _Validator:
    """Walks a rule tree once, collecting every error by JSON path and building the normalized tree."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}
        self.conditions = 0

    def error(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def node(self, node: object, path: str, depth: int) -> dict | None:
        if not isinstance(node, dict):
            self.error(
                path,
                f"A rule is a JSON object (a group, a field condition or an event condition), not {_json_type(node)}.",
            )
            return None
        kinds = [key for key in (*GROUP_KEYS, "field", "event") if key in node]
        if len(kinds) != 1:
            found = " and ".join(f'"{k}"' for k in kinds) if kinds else "none of them"
            self.error(
                path,
                'A rule has exactly one of "all", "any", "not" (a group), "field" (a condition) or "event" '
                f"(an event condition); this one has {found}.",
            )
            return None
        kind = kinds[0]
        if kind in GROUP_KEYS:
            return self.group(node, kind, path, depth + 1)
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            return None
        if kind == "event":
            return self.event(node, path)
        return self.condition(node, path)

    def group(self, node: dict, kind: str, path: str, depth: int) -> dict | None:
        if not self.only_keys(node, {kind}, path, f'a "{kind}" group'):
            return None
        if depth > MAX_DEPTH:
            self.error(path, f"Groups nest at most {MAX_DEPTH} deep; simplify the rule.")
            return None
        children = node[kind]
        child_path = f"{path}.{kind}"
        if kind == "not":
            child = self.node(children, child_path, depth)
            return None if child is None else {"not": child}
        if not isinstance(children, list):
            self.error(child_path, f'"{kind}" takes a list of rules, not {_json_type(children)}.')
            return None
        if not children:
            self.error(child_path, f'"{kind}" needs at least one rule; an empty group is ambiguous.')
            return None
        if len(children) > MAX_CONDITIONS:
            self.error(child_path, f"A group holds at most {MAX_CONDITIONS} rules; this one has {len(children)}.")
            return None
        normalized = [self.node(child, f"{child_path}[{i}]", depth) for i, child in enumerate(children)]
        if any(child is None for child in normalized):
            return None
        return {kind: normalized}

    def only_keys(self, node: dict, allowed: set[str], path: str, what: str) -> bool:
        unknown = sorted(str(key) for key in node if key not in allowed)
        if unknown:
            names = ", ".join(f'"{key}"' for key in sorted(allowed))
            self.error(path, f'Unknown key "{unknown[0][:50]}" in {what}; it takes {names}.')
            return False
        return True

    def event(self, node: dict, path: str) -> dict | None:
        if not self.only_keys(node, {"event", "op", "within_days"}, path, "an event condition"):
            return None
        ok = True
        name = node.get("event")
        if not isinstance(name, str) or not name.strip():
            self.error(f"{path}.event", "An event name is a non-empty text.")
            ok = False
        elif len(name) > MAX_STRING:
            self.error(f"{path}.event", f"An event name has at most {MAX_STRING} characters.")
            ok = False
        op = node.get("op")
        if op not in EVENT_OPS:
            self.error(f"{path}.op", f'Unknown operator "{_short(op)}" for an event; use did, did_not.')
            ok = False
        days = node.get("within_days")
        if isinstance(days, float) and days.is_integer():
            days = int(days)
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_WITHIN_DAYS:
            self.error(f"{path}.within_days", f"within_days is a whole number of days from 1 to {MAX_WITHIN_DAYS}.")
            ok = False
        return {"event": name, "op": op, "within_days": days} if ok else None

    def condition(self, node: dict, path: str) -> dict | None:
        if not self.only_keys(node, {"field", "op", "value"}, path, "a field condition"):
            return None
        name = node.get("field")
        if not isinstance(name, str):
            self.error(f"{path}.field", f"A field name is a text; fields: {FIELD_NAMES}.")
            return None
        spec = field_spec(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(FIELDS), n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            self.error(f"{path}.field", f'Unknown field "{_short(name)}"{hint}; fields: {FIELD_NAMES}.')
            return None
        if spec.kind == "attribute" and not self.attribute_key(name[len(ATTRIBUTE_PREFIX) :], f"{path}.field"):
            return None
        op = node.get("op")
        allowed = ", ".join(spec.operators)
        if not isinstance(op, str) or op not in ALL_OPERATORS:
            regex_hint = (
                " There is no regular-expression operator; use contains or starts_with."
                if op in ("regex", "iregex", "matches", "like")
                else ""
            )
            self.error(
                f"{path}.op", f'Unknown operator "{_short(op)}"; {name} ({spec.type}) takes {allowed}.{regex_hint}'
            )
            return None
        if op not in spec.operators:
            self.error(f"{path}.op", f'Operator "{op}" does not apply to {name} ({spec.type}): use {allowed}.')
            return None
        if op in NO_VALUE_OPS:
            if "value" in node:
                self.error(f"{path}.value", f"{op} takes no value.")
                return None
            return {"field": name, "op": op}
        if "value" not in node:
            self.error(f"{path}.value", f"{op} needs a value.")
            return None
        value = self.value(spec, name, op, node["value"], f"{path}.value")
        return None if value is None else {"field": name, "op": op, "value": value}

    def attribute_key(self, key: str, path: str) -> bool:
        if not ATTRIBUTE_KEY.match(key) or "__" in key or key.isdigit():
            self.error(
                path,
                f'Bad attribute key "{_short(key)}": 1-50 letters, digits or "_", without "__" and not all digits.',
            )
            return False
        return True

    def value(self, spec: FieldSpec, name: str, op: str, value: object, path: str) -> Any:
        if op in LIST_VALUE_OPS:
            if not isinstance(value, list) or not value:
                self.error(path, f"{op} takes a non-empty list of values, not {_json_type(value)}.")
                return None
            if len(value) > MAX_LIST:
                self.error(path, f"{op} takes at most {MAX_LIST} values; this list has {len(value)}.")
                return None
            items = [self.scalar(spec, name, item, f"{path}[{i}]") for i, item in enumerate(value)]
            if any(item is None for item in items):
                return None
            return list(dict.fromkeys(items))
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                self.error(path, f"between takes [low, high], not {_json_type(value)}.")
                return None
            low, high = (self.scalar(spec, name, item, f"{path}[{i}]") for i, item in enumerate(value))
            if low is None or high is None:
                return None
            if low > high:
                self.error(path, f"between takes [low, high] with low <= high; got [{low}, {high}].")
                return None
            return [low, high]
        return self.scalar(spec, name, value, path)

    def scalar(self, spec: FieldSpec, name: str, value: object, path: str) -> Any:
        if spec.type == BOOL:
            if not isinstance(value, bool):
                self.error(path, f"{name} takes true or false, not {_json_type(value)}.")
                return None
            return value
        if spec.type == NUMBER:
            return self.number(spec, name, value, path)
        if not isinstance(value, str):
            self.error(path, f"{name} takes a text value, not {_json_type(value)}.")
            return None
        if not value:
            self.error(path, "An empty text matches nothing useful; use is_set or is_not_set.")
            return None
        if len(value) > MAX_STRING:
            self.error(path, f"A text value has at most {MAX_STRING} characters; this one has {len(value)}.")
            return None
        if spec.choices is not None and value not in spec.choices:
            self.error(path, f'Unknown {name} "{_short(value)}"; {name} is one of {", ".join(spec.choices)}.')
            return None
        return value

    def number(self, spec: FieldSpec, name: str, value: object, path: str) -> int | float | None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            self.error(path, f"{name} takes a number, not {_json_type(value)}.")
            return None
        if not math.isfinite(value) or abs(value) > MAX_ABS_NUMBER:
            self.error(path, f"{name} takes a finite number of at most {MAX_ABS_NUMBER:,} in size.")
            return None
        if spec.whole:
            if isinstance(value, float) and not value.is_integer():
                self.error(path, f"{name} takes a whole number, not {value}.")
                return None
            value = int(value)
        if spec.kind in ("created_days_ago", "last_order_days_ago") and not 0 <= value <= MAX_DAYS:
            self.error(path, f"{name} takes a number of days from 0 to {MAX_DAYS}.")
            return None
        return value


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 50 else text[:47] + "..."


def validate_rules(rules: object) -> dict:
    """The normalized rule tree (whole numbers as ints, ``in`` lists without duplicates), or a ValidationError.

    All errors are reported at once, each under the JSON path of the offending part, so a builder page can
    put each message next to the input that caused it.
    """
    validator = _Validator()
    normalized = validator.node(rules, "rules", 0)
    if validator.conditions > MAX_CONDITIONS:
        validator.error("rules", f"A rule has at most {MAX_CONDITIONS} conditions; this one has more.")
    if validator.errors or normalized is None:
        raise ValidationError(validator.errors or {"rules": ["Invalid rule."]})
    return normalized


# -------------------------------------------------------------------------------------------- compilation

ALWAYS = Q(pk__isnull=False)


@dataclass(frozen=True)
class _Context:
    org_id: int
    today: datetime.date
    tz: ZoneInfo

    def day_start(self, days_ago: int) -> datetime.datetime:
        """The first instant of the local day ``days_ago`` days before today."""
        day = self.today - datetime.timedelta(days=days_ago)
        return datetime.datetime.combine(day, datetime.time.min, tzinfo=self.tz)

    def completed_orders(self) -> QuerySet[Order]:
        return Order.objects.filter(
            organization_id=self.org_id, customer_id=OuterRef("pk"), status=OrderStatus.COMPLETED
        ).order_by()


def _context(org: Organization, today: datetime.date) -> _Context:
    return _Context(org_id=org.pk, today=today, tz=ZoneInfo(org.time_zone or "UTC"))


def compile_rules(rules: dict, *, org: Organization, today: datetime.date) -> Q:
    """A ``Q`` selecting the customers the rule matches, to apply to ``Customer.objects.for_org(org)``.

    The rule is validated again here (it is cheap and idempotent), so nothing unchecked reaches SQL even
    when a caller skipped ``validate_rules``.
    """
    return _compile(validate_rules(rules), _context(org, today))


def segment_queryset(rules: object, *, org: Organization, today: datetime.date) -> QuerySet[Customer]:
    """The organization's customers in the segment: one query, one row per customer (no to-many joins)."""
    return Customer.objects.for_org(org).filter(compile_rules(rules, org=org, today=today))


def explain(rules: object, *, customer: Customer, today: datetime.date) -> dict:
    """The normalized rule with ``"matched"`` on every node, for "why is this customer in this segment".

    Each condition is one small query on this customer's row (a handful per rule), and groups combine
    their children's results the same way the compiled query does.
    """
    normalized = validate_rules(rules)
    context = _context(customer.organization, today)
    one = Customer.objects.for_org(customer.organization_id).filter(pk=customer.pk)

    def walk(node: dict) -> dict:
        if "all" in node or "any" in node:
            kind = "all" if "all" in node else "any"
            children = [walk(child) for child in node[kind]]
            combine = all if kind == "all" else any
            return {kind: children, "matched": combine(child["matched"] for child in children)}
        if "not" in node:
            child = walk(node["not"])
            return {"not": child, "matched": not child["matched"]}
        return {**node, "matched": one.filter(_compile(node, context)).exists()}

    return walk(normalized)


#: Field kinds compiled to a subquery over orders (events are subqueries too): per customer, far dearer than a column.
_SUBQUERY_KINDS = frozenset({"last_order_days_ago", "orders_count", "orders_revenue", "bought_channel"})


def _reads_subquery(node: dict) -> bool:
    if "all" in node or "any" in node:
        return any(_reads_subquery(child) for child in node.get("all") or node["any"])
    if "not" in node:
        return _reads_subquery(node["not"])
    if "event" in node:
        return True
    spec = field_spec(node["field"])
    return spec is not None and spec.kind in _SUBQUERY_KINDS


def _by_cost(children: list[dict]) -> list[dict]:
    """Children without subqueries first: PostgreSQL evaluates the operands of an OR (and of an AND inside one) in
    the order written and stops at the first that decides, so a cheap condition often spares the subquery. Every
    node is true or false (never NULL, see "Missing values"), so the order does not change the result."""
    return sorted(children, key=_reads_subquery)


def _compile(node: dict, context: _Context) -> Q:
    if "all" in node:
        q = Q()
        for child in _by_cost(node["all"]):
            q &= _compile(child, context)
        return q
    if "any" in node:
        q = Q()
        for child in _by_cost(node["any"]):
            q |= _compile(child, context)
        return q
    if "not" in node:
        return ~_compile(node["not"], context)
    if "event" in node:
        happened = Event.objects.filter(
            organization_id=context.org_id,
            customer_id=OuterRef("pk"),
            name=node["event"],
            occurred_at__gte=context.day_start(node["within_days"]),
        )
        q = Q(Exists(happened))
        return q if node["op"] == "did" else ~q
    op = node["op"]
    if op in NEGATIONS:
        positive = {**node, "op": NEGATIONS[op]}
        if op == "is_not_set":
            positive.pop("value", None)
        return ~_compile(positive, context)
    name = node["field"]
    spec = field_spec(name)
    assert spec is not None  # validated
    value = node.get("value")
    compiler = _COMPILERS[spec.kind]
    return compiler(spec, name, op, value, context)


def _typed(spec: FieldSpec, value: Any) -> Any:
    if isinstance(value, list):
        return [_typed(spec, item) for item in value]
    if value is not None and spec.type == NUMBER:
        return Decimal(str(value)) if spec.number is Decimal else spec.number(value)
    return value


def _column(spec: FieldSpec, name: str, op: str, value: Any, context: _Context) -> Q:
    """A comparison on a column of the customer or its score row (a to-one join: no duplicated rows).

    Django adds ``IS NOT NULL`` guards when it negates a filter over a nullable column or an outer join,
    so ``~Q(score__tier="high")`` keeps customers without a score row, as the semantics ask.
    """
    path = spec.lookup
    value = _typed(spec, value)
    if op == "is_set":
        q = Q(**{f"{path}__isnull": False})
        return q & ~Q(**{path: ""}) if spec.type in (TEXT, CHOICE) else q
    if op == "between":
        return Q(**{f"{path}__gte": value[0], f"{path}__lte": value[1]})
    lookup = {"eq": "exact", "contains": "icontains", "starts_with": "istartswith"}.get(op, op)
    return Q(**{f"{path}__{lookup}": value})


def _channel(spec: FieldSpec, name: str, op: str, value: Any, context: _Context) -> Q:
    """The acquisition channel, joined through its own organization so a foreign channel never counts."""
    scope = Q(channel__organization_id=context.org_id)
    if op == "is_set":
        return scope
    return scope & (Q(channel__code__in=value) if op == "in" else Q(channel__code=value))


def _day_bounds(op: str, value: Any) -> tuple[int | None, int | None]:
    """The inclusive [low, high] range of "days ago" a number operator on a day count selects."""
    return {
        "eq": lambda: (value, value),
        "gt": lambda: (value + 1, None),
        "gte": lambda: (value, None),
        "lt": lambda: (None, value - 1),
        "lte": lambda: (None, value),
        "between": lambda: (value[0], value[1]),
    }[op]()


def _created_days_ago(spec: FieldSpec, name: str, op: str, value: Any, context: _Context) -> Q:
    """Days since creation as a range of ``created_at`` instants, so the index on it can be used."""
    if op == "is_set":
        return ALWAYS
    low, high = _day_bounds(op, value)
    q = ALWAYS
    if high is not None:
        q &= Q(created_at__gte=context.day_start(high))
    if low is not None:
        q &= Q(created_at__lt=context.day_start(low - 1))
    return q


def _last_order_days_ago(spec: FieldSpec, name: str, op: str, value: Any, context: _Context) -> Q:
    """Days since the latest completed order, via EXISTS: the latest is on or after a day iff any one is."""
    orders = context.completed_orders()
    has_order = Q(Exists(orders))
    if op == "is_set":
        return has_order
    low, high = _day_bounds(op, value)
    q = has_order if high is None else Q(Exists(orders.filter(ordered_at__gte=context.day_start(high))))
    if low is not None:
        q &= ~Q(Exists(orders.filter(ordered_at__gte=context.day_start(low - 1))))
    return q


def _compare(expression: Any, op: str, value: Any) -> Q:
    if op == "is_set":
        return ALWAYS
    if op == "between":
        return Q(GreaterThanOrEqual(expression, value[0])) & Q(LessThanOrEqual(expression, value[1]))
    lookup = {"eq": Exact, "gt": GreaterThan, "gte": GreaterThanOrEqual, "lt": LessThan, "lte": LessThanOrEqual}[op]
    return Q(lookup(expression, value))


def _orders_count(spec: FieldSpec, name: str, op: str, value: Any, context: _Context) -> Q:
    """The number of completed orders as a range, each bound a bounded EXISTS: "at least n orders" is
    ``EXISTS (... OFFSET n - 1)``, which reads at most n of the customer's orders where a COUNT reads them all."""
    if op == "is_set":
        return ALWAYS
    low, high = _day_bounds(op, _typed(spec, value))

    def at_least(n: int) -> Q:
        return ALWAYS if n <= 0 else Q(Exists(context.completed_orders()[n - 1 : n]))

    q = at_least(low) if low is not None else None
    if high is not None:
        q = ~at_least(high + 1) if q is None else q & ~at_least(high + 1)
    return q


def _orders_revenue(spec: FieldSpec, name: str, op: str, value: Any, context: _Context) -> Q:
    money = DecimalField(max_digits=16, decimal_places=2)
    summed = context.completed_orders().values("customer_id").annotate(s=Sum("amount")).values("s")
    total = Coalesce(Subquery(summed, output_field=money), Value(Decimal("0")), output_field=money)
    value = _typed(spec, value)
    if isinstance(value, list):
        value = [Value(item, output_field=money) for item in value]
    elif value is not None:
        value = Value(value, output_field=money)
    return _compare(total, op, value)


def _bought_channel(spec: FieldSpec, name: str, op: str, value: Any, context: _Context) -> Q:
    codes = value if op == "in" else [value]
    orders = context.completed_orders().filter(channel__organization_id=context.org_id, channel__code__in=codes)
    return Q(Exists(orders))


def _tags(spec: FieldSpec, name: str, op: str, value: Any, context: _Context) -> Q:
    """Exact membership in the JSON tag list, portable as in ``crm.selectors.with_tag``."""
    if connection.vendor == "postgresql":
        return Q(tags__contains=[value])
    table = connection.ops.quote_name(Customer._meta.db_table)
    column = connection.ops.quote_name(Customer._meta.get_field("tags").column)
    # Only quoted identifiers are interpolated; the tag is a bound parameter.
    has_tag = RawSQL(  # noqa: S611
        f"EXISTS (SELECT 1 FROM json_each({table}.{column}) AS tag WHERE tag.value = %s)",  # noqa: S608
        [value],
        output_field=BooleanField(),
    )
    return Q(has_tag)


def _attribute(spec: FieldSpec, name: str, op: str, value: Any, context: _Context) -> Q:
    """A custom attribute, wrapped in CASE so that an absent key is false rather than SQL unknown.

    Django does not add ``IS NOT NULL`` guards when it negates a lookup on a JSON key, so without the CASE
    ``not (attributes.city eq "x")`` would drop every customer without a city.
    """
    path = f"attributes__{name[len(ATTRIBUTE_PREFIX) :]}"
    if op == "is_set":
        inner = Q(**{f"{path}__isnull": False}) & ~Q(**{f"{path}__exact": None}) & ~Q(**{f"{path}__exact": ""})
    else:
        lookup = {"eq": "exact", "in": "in", "contains": "icontains", "starts_with": "istartswith"}[op]
        inner = Q(**{f"{path}__{lookup}": value})
    return Q(Case(When(inner, then=Value(True)), default=Value(False), output_field=BooleanField()))


_COMPILERS = {
    "column": _column,
    "channel": _channel,
    "created_days_ago": _created_days_ago,
    "last_order_days_ago": _last_order_days_ago,
    "orders_count": _orders_count,
    "orders_revenue": _orders_revenue,
    "bought_channel": _bought_channel,
    "tags": _tags,
    "attribute": _attribute,
}
