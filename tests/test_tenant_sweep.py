"""Tenant isolation, swept over every route the site has: nothing of organization A reaches organization B.

Routes are discovered from the URL resolver, so an API resource or page added later is swept without
touching this file. Organization A gets one row of every tenant model (built generically from the model's
fields), every text field carrying ``MARKER``. Then B, with an API key and as a signed-in admin, requests
every ``/api/v1/`` list and detail route and every page (admin, static, i18n and the auth views aside):

* no response of B's contains the marker;
* every detail route given A's row answers 404 to every method it offers, and A's rows stay as they were;
* B posting A's own representations never creates a row of B that points at a row of A;
* exports are read as a person would open them (CSV text, every XLSX cell, the PDF's text), not as bytes;
* the signed links in customers' e-mails (open pixel, click redirect, unsubscribe), which carry no
  organization of their own, refuse altered tokens and tokens minted for another purpose, and change nothing;
* the Django admin (every URL of every registered model, A's rows included) answers B's admin, whether staff
  or not, with its login page and nothing of A: it is for the platform's superusers alone (config/admin.py).

A route this file cannot exercise (an unknown URL kwarg, a view without a model, a model whose row cannot
be built) fails its test with a message saying what to add here, rather than being skipped.
"""

from __future__ import annotations

import datetime
import decimal
import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.core import signing
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Membership, Organization, Role, User
from accounts.services import api_key_create
from accounts.tenancy import TenantModel

MARKER = "zqleakmarker"
API_PREFIX = "api/v1/"
WRITE_METHODS = ("post", "put", "patch", "delete")

#: Seeds for models whose rows the generic builder cannot make (``"app_label.ModelName"`` → function that
#: takes the generic field values and returns them corrected). Add one when a new model's test says so.
SEED_RECIPES: dict[str, Callable[[dict], dict]] = {}

#: URL kwargs the sweep cannot infer, as ``(url name, kwarg)`` → model label. ``pk``/``id`` are inferred from
#: the URL name (``crm:customer-detail`` → ``crm.Customer``) and ``<model>_id``/``<model>_pk`` from the kwarg.
PAGE_KWARG_MODELS: dict[tuple[str, str], str] = {
    ("crm:import-detail", "pk"): "crm.ImportJob",
    ("reporting:alert-rule-edit", "pk"): "reporting.AlertRule",
    ("crm:import-start", "pk"): "crm.ImportJob",
    ("crm:import-discard", "pk"): "crm.ImportJob",
    ("crm:import-rejections-csv", "pk"): "crm.ImportJob",
    ("reporting:channel-detail", "code"): "crm.Channel",
}


#: Public routes reached from customers' mailboxes by a signed link (open pixel, click redirect, unsubscribe).
#: They carry no organization of their own: the signed delivery id in the token decides everything, so the
#: holder of a genuine link is meant to reach that one delivery. Forged and altered tokens are tested in
#: tests/campaigns/test_results_and_tracking.py.
SIGNED_LINK_ROUTES = {"campaigns:track-open", "campaigns:track-click", "campaigns:unsubscribe"}

# Route discovery ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    pattern: str
    name: str | None
    kwargs: tuple[str, ...]
    callback: Callable = field(compare=False)

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith(API_PREFIX)

    def __str__(self) -> str:
        return f"{self.name or '(unnamed)'} [{self.pattern}]"


def _is_excluded(callback: Callable) -> bool:
    """Admin, static files, the language switch and Django's sign-in/password views hold no tenant data."""
    module = getattr(callback, "__module__", "")
    if module in {"django.views.i18n", "django.views.static"} or module.startswith("django.contrib.admin"):
        return True
    view_class = getattr(callback, "view_class", None)
    return view_class is not None and any(base.__module__ == auth_views.__name__ for base in view_class.__mro__)


def _walk(
    patterns, prefix: str = "", namespaces: tuple[str, ...] = (), kwargs: tuple[str, ...] = ()
) -> Iterator[Route]:
    for entry in patterns:
        entry_kwargs = kwargs + tuple(entry.pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue
            namespace = (*namespaces, entry.namespace) if entry.namespace else namespaces
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), namespace, entry_kwargs)
        elif isinstance(entry, URLPattern):
            if _is_excluded(entry.callback) or "format" in entry_kwargs:
                continue  # ``format`` routes are DRF's suffix twins of routes swept already
            name = ":".join((*namespaces, entry.name)) if entry.name else None
            if name in SIGNED_LINK_ROUTES:
                continue
            yield Route(prefix + str(entry.pattern).lstrip("^"), name, entry_kwargs, entry.callback)


def discover_routes() -> list[Route]:
    return list(dict.fromkeys(_walk(get_resolver().url_patterns)))


ROUTES = discover_routes()
API_ROUTES = [route for route in ROUTES if route.is_api]
PAGE_ROUTES = [route for route in ROUTES if not route.is_api]


def view_class_of(route: Route) -> type | None:
    return getattr(route.callback, "cls", None) or getattr(route.callback, "view_class", None)


def api_methods(route: Route) -> list[str]:
    """The methods a DRF route answers (a viewset's mapped actions that its ``http_method_names`` allow)."""
    cls = view_class_of(route)
    actions = getattr(route.callback, "actions", None)
    offered = list(actions) if actions else [m for m in cls.http_method_names if hasattr(cls, m)]
    return [m for m in offered if m in cls.http_method_names and m not in {"head", "options", "trace"}]


def api_model(route: Route) -> type[models.Model]:
    cls = view_class_of(route)
    model = getattr(cls, "model", None) or getattr(getattr(cls, "queryset", None), "model", None)
    if model is None:
        pytest.fail(f"{route}: cannot tell which model the view serves; give {cls.__name__} a `model` or `queryset`.")
    return model


def _model_by_name(name: str, app_label: str | None = None) -> type[models.Model] | None:
    candidates = [
        model
        for model in apps.get_models()
        if model._meta.model_name == name and (app_label is None or model._meta.app_label == app_label)
    ]
    return candidates[0] if len(candidates) == 1 else None


def page_kwarg_model(route: Route, kwarg: str) -> type[models.Model]:
    """The model whose id a page's URL kwarg holds, by the conventions in ``PAGE_KWARG_MODELS``' comment."""
    if (route.name, kwarg) in PAGE_KWARG_MODELS:
        return apps.get_model(PAGE_KWARG_MODELS[(route.name, kwarg)])
    model = None
    if kwarg in {"pk", "id"} and route.name and ":" in route.name:
        app_label, url_name = route.name.rsplit(":", 1)
        words = url_name.replace("_", "-").split("-")
        for length in range(len(words), 0, -1):
            model = _model_by_name("".join(words[:length]), app_label)
            if model is not None:
                break
    elif kwarg.endswith(("_id", "_pk")):
        model = _model_by_name(kwarg[:-3].replace("_", ""))
    if model is None:
        pytest.fail(
            f"{route}: cannot tell which model the URL kwarg {kwarg!r} refers to. Name the route "
            f"'<app>:<model>-…' with a 'pk' kwarg, or add ({route.name!r}, {kwarg!r}) to PAGE_KWARG_MODELS."
        )
    return model


# Seeding organization A --------------------------------------------------------------------------------------


def tenant_models() -> list[type[models.Model]]:
    """Every concrete tenant model, ordered so that a model comes after the tenant models it points to."""
    pending = [m for m in apps.get_models() if issubclass(m, TenantModel) and not m._meta.abstract]
    ordered: list[type[models.Model]] = []
    while pending:
        ready = [
            model
            for model in pending
            if all(
                f.related_model in ordered or f.related_model is model or f.null or f.related_model not in pending
                for f in model._meta.concrete_fields
                if f.is_relation
            )
        ]
        if not ready:
            pytest.fail(f"Tenant models with required foreign keys in a cycle: {pending}; add SEED_RECIPES.")
        ordered += ready
        pending = [model for model in pending if model not in ready]
    return ordered


def _text(field: models.Field, label: str) -> str:
    if isinstance(field, models.EmailField):
        return f"{MARKER}.{label}@example.com"
    if isinstance(field, models.URLField):
        return f"https://{MARKER}.example.com/{label}"
    text = f"{MARKER}-{label}"
    return text[: field.max_length] if field.max_length else text


def _value(field: models.Field, label: str):
    """A plausible value for one field: the marker in text (distinct per field), a small number, recent times."""
    if field.choices:
        return field.choices[0][0]
    if isinstance(field, (models.CharField, models.TextField)):
        if field.max_length and field.max_length < len(MARKER):
            return field.get_default() or "X" * field.max_length
        return _text(field, label)
    if isinstance(field, models.JSONField):
        default = field.get_default()
        return [MARKER] if isinstance(default, list) else {MARKER: MARKER}
    if isinstance(field, models.BooleanField):
        return field.get_default() if field.has_default() else False
    if isinstance(field, models.DecimalField):
        return decimal.Decimal("1")
    if isinstance(field, (models.IntegerField, models.FloatField)):
        return 1
    if isinstance(field, models.DateTimeField):
        return timezone.now() - datetime.timedelta(days=1)
    if isinstance(field, models.DateField):
        return timezone.now().date() - datetime.timedelta(days=1)
    if isinstance(field, models.DurationField):
        return datetime.timedelta(hours=1)
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if field.has_default():
        return field.get_default()
    return None


def build_row(model: type[models.Model], org: Organization, member: User, rows: dict) -> models.Model:
    values = {}
    for model_field in model._meta.concrete_fields:
        if model_field.primary_key or model_field.auto_created:
            continue
        if model_field.is_relation:
            target = model_field.related_model
            if target is Organization:
                values[model_field.name] = org
            elif issubclass(target, User):
                values[model_field.name] = member
            elif target in rows:
                values[model_field.name] = rows[target]
            elif not model_field.null:
                pytest.fail(
                    f"Cannot seed {model._meta.label}: no row for its {model_field.name} ({target._meta.label})."
                )
            continue
        value = _value(model_field, f"{model._meta.model_name}-{model_field.name}".replace("_", "-"))
        if value is not None:
            values[model_field.name] = value
    recipe = SEED_RECIPES.get(model._meta.label)
    if recipe is not None:
        values = recipe(values)
    try:
        return model.objects.create(**values)
    except Exception as exc:
        pytest.fail(f"Cannot seed {model._meta.label} generically ({exc!r}); add a recipe to SEED_RECIPES.")


@dataclass
class World:
    org_a: Organization
    org_b: Organization
    member_a: User
    admin_b: User
    rows_a: dict[type[models.Model], models.Model]
    key_a: str
    key_b: str

    def api_as_a(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.key_a}")
        return client

    def api_clients_of_b(self) -> dict[str, APIClient]:
        key = APIClient()
        key.credentials(HTTP_AUTHORIZATION=f"Bearer {self.key_b}")
        session = APIClient()
        session.force_login(self.admin_b)
        return {"api key of B": key, "session of B's admin": session}

    def page_client_of_b(self) -> Client:
        client = Client()
        client.force_login(self.admin_b)
        return client

    def snapshot_a(self) -> dict[str, dict | None]:
        """Every stored value of A's seeded rows, to show that nothing of A changed."""
        return {
            model._meta.label: model.objects.filter(pk=row.pk).values().first() for model, row in self.rows_a.items()
        }


@pytest.fixture
def world(db) -> World:
    org_a = Organization.objects.create(slug=f"{MARKER}-a", name=f"{MARKER} Org A")
    org_b = Organization.objects.create(slug="sweep-b", name="Org B")
    member_a = User.objects.create_user(email=f"{MARKER}.member@example.com", first_name=MARKER, last_name=MARKER)
    membership_a = Membership.objects.create(user=member_a, organization=org_a, role=Role.ADMIN)
    admin_b = User.objects.create_user(email="admin-b@example.com", first_name="Bea", last_name="B")
    Membership.objects.create(user=admin_b, organization=org_b, role=Role.ADMIN)
    rows_a: dict[type[models.Model], models.Model] = {}
    for model in tenant_models():
        rows_a[model] = build_row(model, org_a, member_a, rows_a)
    # Memberships are scoped by organization without the tenant base (a person belongs to several).
    rows_a[Membership] = membership_a
    _, key_a = api_key_create(org=org_a, name=f"{MARKER} key", scopes=["read", "write"])
    _, key_b = api_key_create(org=org_b, name="sweep key of B", scopes=["read", "write"])
    return World(org_a, org_b, member_a, admin_b, rows_a, key_a, key_b)


XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def readable_text(response) -> str:
    """What a person would read in the response: the text of a page or CSV, every cell of an XLSX workbook,
    the text of a PDF. Compressed formats hide a marker from a search of the raw bytes."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    content_type = response.headers.get("Content-Type", "")
    if content_type.startswith(XLSX_CONTENT_TYPE) and response.status_code == 200:
        from openpyxl import load_workbook

        workbook = load_workbook(io.BytesIO(body), read_only=True)
        return "\n".join(
            str(cell)
            for sheet in workbook.worksheets
            for row in sheet.iter_rows(values_only=True)
            for cell in row
            if cell is not None
        )
    if content_type.startswith("application/pdf") and response.status_code == 200:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(body))
        return "\n".join(page.extract_text() or "" for page in reader.pages) + str(reader.metadata or "")
    return body.decode(errors="replace")


def assert_no_marker(response, what: str, sent: tuple[str, ...] = ()) -> None:
    """No marker in the body or redirect, once the values B itself sent (echoed in forms, errors) are removed.

    Each text field of A carries a different marked value, so a leaked row still shows through.
    """
    assert response.status_code < 500, f"{what}: {response.status_code}"
    text = (readable_text(response) + response.headers.get("Location", "")).lower()
    for value in sent:
        text = text.replace(value.lower(), "")
    position = text.find(MARKER)
    assert position < 0, f"{what} shows organization A's data: …{text[max(0, position - 200) : position + 200]}…"


def detail_kwargs(route: Route, row: models.Model, lookup_field: str = "pk") -> dict[str, str]:
    return {kwarg: str(getattr(row, lookup_field)) for kwarg in route.kwargs}


# Discovery itself ---------------------------------------------------------------------------------------------


def test_discovery_finds_every_crm_api_resource_and_the_crm_pages():
    names = {route.name for route in ROUTES}
    for resource in ("customer", "order", "channel", "channel-spend", "event", "feedback", "note", "task"):
        assert {f"api:{resource}-list", f"api:{resource}-detail"} <= names
    assert {"home", "crm:customer-list", "crm:customer-detail", "crm:task-inbox", "crm:task-complete"} <= names


def test_discovery_leaves_out_admin_i18n_and_sign_in_views():
    names = {route.name for route in ROUTES}
    assert not {"accounts:login", "accounts:password_reset", "set_language"} & names
    assert not any(route.pattern.startswith("admin/") for route in ROUTES)


def test_seeding_puts_one_marked_row_of_every_tenant_model_in_organization_a(world):
    for model, row in world.rows_a.items():
        assert row.organization_id == world.org_a.pk, model
    assert {m._meta.label for m in world.rows_a} >= {"crm.Customer", "crm.Order", "crm.Task", "accounts.ApiKey"}
    assert MARKER in json.dumps(world.api_as_a().get("/api/v1/customers/").json())


# The sweep ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", [r for r in API_ROUTES if not r.kwargs and "get" in api_methods(r)], ids=str)
def test_api_list_route_shows_nothing_of_another_organization(world, route):
    url = reverse(route.name)
    filterset = getattr(view_class_of(route), "filterset_class", None)
    queries = [{}]
    if filterset is not None:
        row = world.rows_a.get(api_model(route))
        queries += [{name: filter_value_of(row, flt.field_name)} for name, flt in filterset.base_filters.items()]
    for who, client in world.api_clients_of_b().items():
        for query in queries:
            assert_no_marker(client.get(url, query), f"GET {url} {query} as {who}", sent=tuple(query.values()))


def filter_value_of(row: models.Model | None, field_name: str) -> str:
    """A's own value for a filter (its customer id, channel code, owner e-mail…), else part of the marker.

    Filtering by A's exact values is the likeliest way for a forgotten ``for_org`` to let A's rows through.
    """
    value = row
    for part in field_name.split("__"):
        value = getattr(value, part, None)
        if value is None:
            return MARKER[2:]
    return str(value.pk if isinstance(value, models.Model) else value)


@pytest.mark.parametrize("route", [r for r in API_ROUTES if r.kwargs], ids=str)
def test_api_detail_route_gives_404_for_another_organizations_row(world, route):
    cls = view_class_of(route)
    lookup_kwarg = getattr(cls, "lookup_url_kwarg", None) or getattr(cls, "lookup_field", "pk")
    if route.kwargs != (lookup_kwarg,):
        pytest.fail(f"{route}: URL kwargs {route.kwargs} other than the lookup {lookup_kwarg!r}; extend the sweep.")
    model = api_model(route)
    if model not in world.rows_a:
        pytest.fail(f"{route}: {model._meta.label} is not a tenant model, so the sweep has no row of A for it.")
    url = reverse(route.name, kwargs=detail_kwargs(route, world.rows_a[model], getattr(cls, "lookup_field", "pk")))
    before = world.snapshot_a()
    for who, client in world.api_clients_of_b().items():
        for method in api_methods(route):
            response = getattr(client, method)(url, {"name": "changed by B"}, format="json")
            assert response.status_code == 404, f"{method.upper()} {url} as {who}: {response.status_code}"
            assert_no_marker(response, f"{method.upper()} {url} as {who}")
    assert world.snapshot_a() == before


@pytest.mark.parametrize("route", [r for r in API_ROUTES if not r.kwargs and "post" in api_methods(r)], ids=str)
def test_api_create_from_another_organizations_data_never_points_at_its_rows(world, route):
    """B posts A's own representation of its row (ids, codes, e-mails of A): refused, or B's alone."""
    model = api_model(route)
    body = {}
    detail_name = route.name.removesuffix("-list") + "-detail"
    if model in world.rows_a and detail_name in {r.name for r in API_ROUTES}:
        response = world.api_as_a().get(reverse(detail_name, kwargs={"pk": world.rows_a[model].pk}))
        if response.status_code == 200:
            body = {key: value for key, value in response.json().items() if key != "id"}
    before = world.snapshot_a()
    for who, client in world.api_clients_of_b().items():
        response = client.post(reverse(route.name), body, format="json")
        assert response.status_code < 500, f"POST {route} as {who}: {response.status_code}"
    assert world.snapshot_a() == before
    assert_rows_of_b_point_only_at_b(world)


def assert_rows_of_b_point_only_at_b(world: World) -> None:
    members_of_b = set(Membership.objects.filter(organization=world.org_b).values_list("user_id", flat=True))
    for model in world.rows_a:
        for row in model.objects.filter(organization=world.org_b):
            for model_field in model._meta.concrete_fields:
                if not model_field.is_relation or model_field.name == "organization":
                    continue
                target_id = getattr(row, model_field.attname)
                if target_id is None:
                    continue
                target = model_field.related_model
                if issubclass(target, TenantModel):
                    assert target.objects.get(pk=target_id).organization_id == world.org_b.pk, (model, model_field)
                elif issubclass(target, User):
                    assert target_id in members_of_b, (model, model_field)


@pytest.mark.parametrize("route", [r for r in PAGE_ROUTES if not r.kwargs], ids=str)
def test_page_shows_nothing_of_another_organization(world, route):
    if route.name is None:
        pytest.fail(f"{route}: give the route a name so the sweep can reverse it.")
    url = reverse(route.name)
    client = world.page_client_of_b()
    assert_no_marker(client.get(url), f"GET {url}")
    assert_no_marker(client.get(url, HTTP_HX_REQUEST="true"), f"htmx GET {url}")
    # Part of the marker matches A's text in any "contains" search, yet an echo of it is not the marker.
    assert_no_marker(client.get(url, {"q": MARKER[2:]}), f"GET {url}?q=…")


@pytest.mark.parametrize("route", [r for r in PAGE_ROUTES if r.kwargs], ids=str)
def test_page_with_another_organizations_id_gives_404(world, route):
    if route.name is None:
        pytest.fail(f"{route}: give the route a name so the sweep can reverse it.")
    kwargs = {}
    for kwarg in route.kwargs:
        model = page_kwarg_model(route, kwarg)
        if model not in world.rows_a:
            pytest.fail(f"{route}: {model._meta.label} is not a tenant model, so the sweep has no row of A for it.")
        row = world.rows_a[model]
        # A kwarg named after a field of the model (a channel's ``code``) gets A's own value of it.
        kwargs[kwarg] = getattr(row, kwarg) if kwarg not in {"pk", "id"} and hasattr(row, kwarg) else row.pk
    url = reverse(route.name, kwargs=kwargs)
    client = world.page_client_of_b()
    before = world.snapshot_a()
    get = client.get(url)
    assert get.status_code in {404, 405}, f"GET {url}: {get.status_code}"
    post = client.post(url, {"body": "written by B", "title": "written by B"})
    assert post.status_code in {404, 405}, f"POST {url}: {post.status_code}"
    assert {get.status_code, post.status_code} & {404}, f"{url} answered neither GET nor POST with 404"
    sent = tuple(str(value) for value in kwargs.values())  # the 404 page may echo the path B typed
    assert_no_marker(get, f"GET {url}", sent=sent)
    assert_no_marker(post, f"POST {url}", sent=sent)
    assert world.snapshot_a() == before


# Exports -----------------------------------------------------------------------------------------------------

EXPORT_ROUTES = [r for r in PAGE_ROUTES if r.pattern.endswith((".csv", ".xlsx", ".pdf"))]


def test_every_export_format_is_swept_and_read_as_a_person_reads_it(world):
    """The sweep above reaches each export; here, A's own downloads show that reading them finds the marker.

    (Only exports of rows A's generic seed makes readable: the report snapshots' JSON is marker-filled, not real.)
    """
    assert {route.pattern.rsplit(".", 1)[1] for route in EXPORT_ROUTES} == {"csv", "xlsx", "pdf"}
    assert {"reporting:export-scores-xlsx", "reporting:export-executive-pdf", "campaigns:campaign-export"} <= {
        route.name for route in EXPORT_ROUTES
    }
    client_a = Client()
    client_a.force_login(world.member_a)
    for name in ("reporting:export-scores-csv", "reporting:export-scores-xlsx", "reporting:export-executive-pdf"):
        response = client_a.get(reverse(name))
        assert response.status_code == 200, f"{name}: {response.status_code}"
        assert MARKER in readable_text(response).lower(), f"{name} as A should show A's marked rows"


# Signed links in customers' e-mails ---------------------------------------------------------------------------


def _signed_link_urls(delivery_id: int) -> dict[str, list[str]]:
    """For each public route: tokens that must not work (altered, or minted for another of the three purposes)."""
    open_token = signing.Signer(salt="campaigns.open").sign(str(delivery_id))
    unsubscribe_token = signing.Signer(salt="campaigns.unsubscribe").sign(str(delivery_id))
    click_token = signing.dumps({"d": delivery_id, "u": "https://example.com/"}, salt="campaigns.click", compress=True)
    forged = signing.Signer(key="not-the-secret-key-0123456789", salt="campaigns.unsubscribe").sign(str(delivery_id))
    altered = unsubscribe_token[:-1] + ("A" if unsubscribe_token[-1] != "A" else "B")
    return {
        "campaigns:track-open": [unsubscribe_token, click_token, forged, altered],
        "campaigns:track-click": [open_token, unsubscribe_token, click_token[:-1] + "x", forged],
        "campaigns:unsubscribe": [open_token, click_token, forged, altered],
    }


def test_the_signed_link_routes_are_the_only_public_ones_left_out_and_all_are_swept_here():
    names = {route.name for route in _walk(get_resolver().url_patterns)}
    assert not SIGNED_LINK_ROUTES & names
    assert set(_signed_link_urls(1)) == SIGNED_LINK_ROUTES


def test_signed_links_refuse_altered_and_cross_purpose_tokens_and_show_nothing(world):
    delivery = world.rows_a[apps.get_model("campaigns.Delivery")]
    before = world.snapshot_a()
    client = Client()
    for name, tokens in _signed_link_urls(delivery.pk).items():
        for token in tokens:
            url = reverse(name, args=[token])
            for method in ("get", "post"):
                response = getattr(client, method)(url)
                if name == "campaigns:track-open":
                    assert response["Content-Type"] == "image/gif", url  # the pixel never tells
                else:
                    assert response.status_code == 404, f"{method.upper()} {url}: {response.status_code}"
                assert_no_marker(response, f"{method.upper()} {url}", sent=(token,))
    assert world.snapshot_a() == before


# The Django admin ---------------------------------------------------------------------------------------------


def admin_urls(world: World) -> list[str]:
    """Every admin page: the index, each app's index, and each registered model's list, add, and (for A's row
    of that model, where the sweep has one) change, history and delete pages."""
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        opts = model._meta
        urls.append(reverse("admin:app_list", args=[opts.app_label]))
        urls += [reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}") for view in ("changelist", "add")]
        row = world.rows_a.get(model) or (world.org_a if model is Organization else None)
        if model is User:
            row = world.member_a
        if row is not None:
            urls += [
                reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[row.pk])
                for view in ("change", "history", "delete")
            ]
    return list(dict.fromkeys(urls))


@pytest.mark.parametrize("staff", [False, True], ids=["B's admin", "B's admin with staff status"])
def test_the_django_admin_is_closed_to_organization_admins(world, staff):
    world.admin_b.is_staff = staff
    world.admin_b.save(update_fields=["is_staff"])
    client = world.page_client_of_b()
    login = reverse("admin:login")
    before = world.snapshot_a()
    urls = admin_urls(world)
    assert len(urls) > 20 and any("/customer/" in url for url in urls)
    for url in urls:
        for method in ("get", "post"):
            response = getattr(client, method)(url, {"name": "written by B"})
            assert response.status_code == 302 and response["Location"].startswith(login), (
                f"{method.upper()} {url}: {response.status_code} {response.get('Location')}"
            )
            assert_no_marker(response, f"{method.upper()} {url}", sent=(url,))
    assert world.snapshot_a() == before
