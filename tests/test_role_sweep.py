"""Roles, swept over every write the site offers: a role refused a write gets 403 and changes nothing.

Routes come from the URL resolver through the tenant sweep's discovery (tests/test_tenant_sweep.py), so a page or
API operation added later is swept without touching this file. One organization gets one row of every tenant
model and a member of each role; then:

* a viewer POSTs to every page (detail pages with the organization's own rows) and sends every API write
  (POST, PUT, PATCH, DELETE) with a session: each answers 403 (405 where the route takes no write);
* an API key with only the ``read`` scope is refused every API write the same way;
* for every other role, each API write whose view's ``write_roles`` leave that role out answers 403;
* ops and marketers are refused every page of the organization's administration (settings, members, API keys,
  webhooks), and marketers the imports;
* a signed-out visitor's POST to any page is sent to the login page (or refused), and API writes get 401/403;

and after each sweep every row of the organization is as it was.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiKey, Membership, Organization, Role, User
from accounts.permissions import CRM_WRITERS
from accounts.services import api_key_create
from tests.test_tenant_sweep import (
    API_ROUTES,
    PAGE_ROUTES,
    WRITE_METHODS,
    Route,
    api_methods,
    api_model,
    build_row,
    page_kwarg_model,
    tenant_models,
    view_class_of,
)

#: Page routes a viewer may POST to, and why: neither changes a record of the organization.
VIEWER_MAY_POST = {
    "accounts:switch-organization": "chooses which of the person's own organizations the pages show",
    "health": "the health probe answers any method and writes nothing",
    "api-not-found": "answers every method under /api/ that no resource matched with a JSON 404",
}
#: Page route name prefixes of the organization's administration, for admins alone.
ADMIN_PAGES = ("accounts:organization-", "accounts:membership-", "accounts:apikey-", "webhooks:")
#: Imports change customer records in bulk: admins and ops only.
IMPORT_PAGES = ("crm:import-",)
#: A body with a plausible value for the fields that forms and serializers across the site ask for.
BODY = {
    "name": "written by the sweep",
    "title": "written by the sweep",
    "body": "written by the sweep",
    "email": "sweep@example.com",
    "role": Role.ADMIN,
    "url": "https://hooks.example.com/sweep",
    "status": "done",
    "scopes": "write",
    "external_id": "sweep-1",
}
DENIED = {403}


@pytest.fixture
def shop(db):
    org = Organization.objects.create(slug="role-sweep", name="Role sweep")
    members = {}
    for role in (Role.ADMIN, Role.OPS, Role.MARKETER, Role.VIEWER):
        user = User.objects.create_user(email=f"{role}@role-sweep.example.com", first_name=role, last_name="Sweep")
        Membership.objects.create(user=user, organization=org, role=role)
        members[role] = user
    rows = {}
    for model in tenant_models():
        rows[model] = build_row(model, org, members[Role.ADMIN], rows)
    rows[Membership] = Membership.objects.get(organization=org, user=members[Role.ADMIN])
    return org, members, rows


#: Bookkeeping that a refused request may still update: an API key notes when it was last presented.
BOOKKEEPING_FIELDS = {"last_used_at"}


def snapshot(org: Organization) -> dict[str, list[dict]]:
    """Every stored value of every row of the organization (members and keys included)."""
    state = {
        model._meta.label: [
            {name: value for name, value in row.items() if name not in BOOKKEEPING_FIELDS}
            for row in model.objects.filter(organization=org).order_by("pk").values()
        ]
        for model in (*tenant_models(), Membership)
    }
    state["organization"] = list(Organization.objects.filter(pk=org.pk).values())
    return state


def page_url(route: Route, rows: dict) -> str:
    kwargs = {}
    for kwarg in route.kwargs:
        row = rows[page_kwarg_model(route, kwarg)]
        kwargs[kwarg] = getattr(row, kwarg) if kwarg not in {"pk", "id"} and hasattr(row, kwarg) else row.pk
    return reverse(route.name, kwargs=kwargs)


def api_url(route: Route, rows: dict) -> str:
    if not route.kwargs:
        return reverse(route.name)
    lookup_field = getattr(view_class_of(route), "lookup_field", "pk")
    row = rows[api_model(route)]
    return reverse(route.name, kwargs={kwarg: str(getattr(row, lookup_field)) for kwarg in route.kwargs})


def api_writes(route: Route) -> list[str]:
    return [method for method in api_methods(route) if method in WRITE_METHODS]


def write_roles_of(route: Route) -> frozenset[str]:
    return frozenset(getattr(view_class_of(route), "write_roles", CRM_WRITERS))


def session_api(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def page_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


NAMED_PAGES = [route for route in PAGE_ROUTES if route.name]
API_WRITE_ROUTES = [route for route in API_ROUTES if api_writes(route)]


def test_the_sweep_reaches_the_writes_that_matter():
    names = {route.name for route in NAMED_PAGES} | {route.name for route in API_WRITE_ROUTES}
    assert {
        "accounts:organization-settings",
        "accounts:membership-role",
        "accounts:organization-api-keys",
        "webhooks:webhooks",
        "crm:import-upload",
        "campaigns:campaign-launch",
        "api:customer-list",
        "api:webhookendpoint-list" if "api:webhookendpoint-list" in names else "api:webhook-list",
    } <= names
    assert all(route.name for route in PAGE_ROUTES), "every page route needs a name for the sweeps"


@pytest.mark.parametrize("route", NAMED_PAGES, ids=str)
def test_a_viewer_may_post_to_no_page(shop, route):
    org, members, rows = shop
    before = snapshot(org)

    response = page_client(members[Role.VIEWER]).post(page_url(route, rows), BODY)

    if route.name not in VIEWER_MAY_POST:
        assert response.status_code in DENIED | {405}, f"POST {route} as a viewer: {response.status_code}"
    assert snapshot(org) == before


@pytest.mark.parametrize("route", API_WRITE_ROUTES, ids=str)
def test_a_viewer_and_a_read_only_key_may_write_nothing_through_the_api(shop, route):
    org, members, rows = shop
    _, read_key = api_key_create(org=org, name="read only", scopes=["read"])
    key_client = APIClient()
    key_client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    before = snapshot(org)
    url = api_url(route, rows)

    for who, client in {"viewer": session_api(members[Role.VIEWER]), "read-only key": key_client}.items():
        for method in api_writes(route):
            response = getattr(client, method)(url, BODY, format="json")
            assert response.status_code in DENIED, f"{method.upper()} {url} as {who}: {response.status_code}"
    assert snapshot(org) == before


REFUSED_API_WRITES = [
    pytest.param(route, role, id=f"{role}-{route}")
    for route in API_WRITE_ROUTES
    for role in (Role.ADMIN, Role.OPS, Role.MARKETER)
    if role not in write_roles_of(route)
]
REFUSED_ADMIN_PAGES = [
    pytest.param(route, role, id=f"{role}-{route}")
    for route in NAMED_PAGES
    for role in (Role.OPS, Role.MARKETER)
    if route.name.startswith(ADMIN_PAGES) or (role == Role.MARKETER and route.name.startswith(IMPORT_PAGES))
]


@pytest.mark.parametrize(("route", "role"), REFUSED_API_WRITES)
def test_api_writes_refuse_every_role_their_view_leaves_out(shop, route, role):
    org, members, rows = shop
    before = snapshot(org)
    url = api_url(route, rows)
    client = session_api(members[role])

    for method in api_writes(route):
        response = getattr(client, method)(url, BODY, format="json")
        assert response.status_code in DENIED, f"{method.upper()} {url} as {role}: {response.status_code}"
    assert snapshot(org) == before


@pytest.mark.parametrize(("route", "role"), REFUSED_ADMIN_PAGES)
def test_only_admins_run_the_organization_and_marketers_import_nothing(shop, route, role):
    org, members, rows = shop
    client = page_client(members[role])
    before = snapshot(org)
    url = page_url(route, rows)

    post = client.post(url, BODY)
    assert post.status_code in DENIED | {405}, f"POST {url} as {role}: {post.status_code}"
    if route.name.startswith(ADMIN_PAGES):
        assert client.get(url).status_code in DENIED | {405}, f"GET {url} as {role}"
    assert snapshot(org) == before


@pytest.mark.parametrize("route", NAMED_PAGES, ids=str)
def test_a_signed_out_visitor_is_sent_to_sign_in_and_changes_nothing(shop, route):
    org, _, rows = shop
    before = snapshot(org)
    url = page_url(route, rows)

    response = Client().post(url, BODY)

    if route.name not in VIEWER_MAY_POST:
        login = reverse("accounts:login")
        signs_in = response.status_code == 302 and response["Location"].startswith(login)
        assert signs_in or response.status_code in DENIED | {405}, f"POST {url} signed out: {response.status_code}"
    assert snapshot(org) == before


@pytest.mark.parametrize("route", API_WRITE_ROUTES, ids=str)
def test_signed_out_api_writes_are_refused(shop, route):
    org, _, rows = shop
    before = snapshot(org)
    url = api_url(route, rows)

    for method in api_writes(route):
        response = getattr(APIClient(), method)(url, BODY, format="json")
        assert response.status_code in {401, 403}, f"{method.upper()} {url} signed out: {response.status_code}"
    assert snapshot(org) == before
    assert not ApiKey.objects.filter(organization=org, name=BODY["name"]).exists()
