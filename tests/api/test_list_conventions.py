"""The list conventions of every ``/api/v1/`` resource, checked once for all of them (config/api/base.py).

Every list route the router knows is parametrized here: ``ordering`` (allow-list, 400 naming it), ``fields``
(sparse fieldsets, 400 naming it, identity always kept), ``updated_since`` (aware only) and ``ETag`` /
``If-None-Match``. Then the cursor is walked with ties, both ways, to show pages stay stable.
"""

from __future__ import annotations

import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from config.api.base import ListConventionsMixin
from config.api.urls import router
from tests.factories import (
    ChannelFactory,
    ChannelSpendFactory,
    CustomerFactory,
    EventFactory,
    FeedbackFactory,
    NoteFactory,
    OrderFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db

#: Resources built by others at the same time follow the conventions through the base class; they test them.
NOT_OURS = {"webhooks", "webhook-endpoints", "webhook-deliveries"}

LIST_ROUTES = sorted(
    (prefix, viewset)
    for prefix, viewset, _basename in router.registry
    if issubclass(viewset, ListConventionsMixin) and prefix not in NOT_OURS
)
ROUTE_IDS = [prefix for prefix, _ in LIST_ROUTES]


def url(prefix: str) -> str:
    return f"/api/v1/{prefix}/"


def tiebreak(viewset) -> str:
    ordering = viewset.pagination_class.ordering
    return (ordering if isinstance(ordering, str) else ordering[0]).lstrip("-")


@pytest.fixture
def populated(org):
    """One row of each CRM resource, so sparse fieldsets are checked on real rows."""
    channel = ChannelFactory(organization=org)
    ChannelSpendFactory(organization=org, channel=channel)
    customer = CustomerFactory(organization=org, channel=channel)
    OrderFactory(customer=customer)
    EventFactory(customer=customer)
    FeedbackFactory(customer=customer)
    NoteFactory(customer=customer)
    TaskFactory(customer=customer)
    return org


def test_every_resource_of_design_section_7_is_routed():
    prefixes = {prefix for prefix, _viewset, _ in router.registry}
    expected = {
        "customers", "orders", "channels", "channel-spend", "events", "feedback", "notes", "tasks", "imports",
        "scores", "segments", "campaigns", "kpis", "channel-metrics", "cohorts", "alerts", "targets", "jobs",
        "models/clv",
    }  # fmt: skip
    assert expected <= prefixes
    assert expected <= set(ROUTE_IDS)


@pytest.mark.parametrize(("prefix", "viewset"), LIST_ROUTES, ids=ROUTE_IDS)
def test_ordering_and_updated_fields_are_never_null_model_fields(prefix, viewset):
    """A keyset cursor cannot step over nulls, so only never-null columns may be sorted on."""
    meta = viewset.model._meta
    for name in (*viewset.ordering_fields, viewset.updated_field, tiebreak(viewset)):
        field = meta.get_field(name)
        assert (field.concrete and not field.null and not field.is_relation) or name.endswith("_id"), (prefix, name)


@pytest.mark.parametrize(("prefix", "viewset"), LIST_ROUTES, ids=ROUTE_IDS)
def test_every_allowed_ordering_is_accepted(prefix, viewset, read_api, populated):
    for name in (*viewset.ordering_fields, tiebreak(viewset)):
        for value in (name, f"-{name}"):
            response = read_api.get(url(prefix), {"ordering": value})
            assert response.status_code == 200, (value, response.content)


@pytest.mark.parametrize(("prefix", "viewset"), LIST_ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("value", ["no_such_field", "--id", "organization", "customer__name", "id,name", ""])
def test_unknown_ordering_is_a_400_naming_ordering(prefix, viewset, value, read_api):
    response = read_api.get(url(prefix), {"ordering": value})
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == {"ordering"}


@pytest.mark.parametrize(("prefix", "viewset"), LIST_ROUTES, ids=ROUTE_IDS)
def test_fields_returns_the_subset_and_the_identity(prefix, viewset, read_api, populated):
    available = list(viewset.serializer_class().fields)
    identity = {"id", viewset.lookup_url_kwarg or viewset.lookup_field} & set(available)
    other = next(name for name in available if name not in identity)
    response = read_api.get(url(prefix), {"fields": f" {other} "})
    assert response.status_code == 200, response.content
    for row in response.json()["results"]:
        assert set(row) == {other, *identity}


@pytest.mark.parametrize(("prefix", "viewset"), LIST_ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("value", ["nope", "id,nope", ",", ""])
def test_unknown_fields_are_a_400_naming_fields(prefix, viewset, value, read_api):
    response = read_api.get(url(prefix), {"fields": value})
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == {"fields"}


@pytest.mark.parametrize(("prefix", "viewset"), LIST_ROUTES, ids=ROUTE_IDS)
def test_updated_since_accepts_aware_times(prefix, viewset, read_api, populated):
    for value in ["2020-01-01T00:00:00Z", "2020-01-01T08:00:00+08:00", "2020-01-01 00:00:00.5+00:00"]:
        response = read_api.get(url(prefix), {"updated_since": value})
        assert response.status_code == 200, (value, response.content)


@pytest.mark.parametrize(("prefix", "viewset"), LIST_ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("value", ["2020-01-01T00:00:00", "2020-01-01", "yesterday", "", "0001-01-01T00:00:00Z"])
def test_naive_or_invalid_updated_since_is_a_400(prefix, viewset, value, read_api):
    response = read_api.get(url(prefix), {"updated_since": value})
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == {"updated_since"}


@pytest.mark.parametrize(("prefix", "viewset"), LIST_ROUTES, ids=ROUTE_IDS)
def test_list_pages_carry_an_etag_and_answer_304(prefix, viewset, read_api, populated):
    first = read_api.get(url(prefix))
    assert first.status_code == 200
    tag = first["ETag"]
    assert tag.startswith('"') and tag.endswith('"')
    again = read_api.get(url(prefix), HTTP_IF_NONE_MATCH=tag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == tag
    weak = read_api.get(url(prefix), HTTP_IF_NONE_MATCH=f'"other", W/{tag}')
    assert weak.status_code == 304
    stale = read_api.get(url(prefix), HTTP_IF_NONE_MATCH='"stale"')
    assert stale.status_code == 200 and stale["ETag"] == tag


def test_the_etag_changes_with_the_data_and_with_the_fields(org, read_api):
    customer = CustomerFactory(organization=org, name="Before")
    tag = read_api.get(url("customers"))["ETag"]
    assert read_api.get(url("customers"), {"fields": "name"})["ETag"] != tag
    customer.name = "After"
    customer.save(update_fields=["name"])
    response = read_api.get(url("customers"), HTTP_IF_NONE_MATCH=tag)
    assert response.status_code == 200 and response["ETag"] != tag


def test_retrieve_honours_fields_and_if_none_match(org, read_api):
    customer = CustomerFactory(organization=org)
    response = read_api.get(f"{url('customers')}{customer.pk}/", {"fields": "email,updated_at"})
    assert response.status_code == 200
    assert set(response.json()) == {"id", "email", "updated_at"}
    assert read_api.get(f"{url('customers')}{customer.pk}/", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 200
    plain = read_api.get(f"{url('customers')}{customer.pk}/")
    assert read_api.get(f"{url('customers')}{customer.pk}/", HTTP_IF_NONE_MATCH=plain["ETag"]).status_code == 304
    assert read_api.get(f"{url('customers')}{customer.pk}/", {"fields": "shoe_size"}).status_code == 400


def test_writes_carry_no_etag_and_ignore_fields(org, write_api):
    response = write_api.post(url("channels") + "?fields=code", {"code": "web", "name": "Web"}, format="json")
    assert response.status_code == 201 and "ETag" not in response
    assert "name" in response.json()


def test_unauthenticated_requests_stay_401_whatever_the_parameters(client):
    response = client.get(url("customers"), {"ordering": "nope", "fields": "nope"})
    assert response.status_code in (401, 403)


def _walk(api, first_url: str, link: str = "next") -> list[dict]:
    rows, page_url, pages = [], first_url, 0
    while page_url:
        parts = urlsplit(page_url)
        response = api.get(f"{parts.path}?{parts.query}")
        assert response.status_code == 200, response.content
        body = response.json()
        rows.extend(body["results"] if link == "next" else reversed(body["results"]))
        page_url = body[link]
        pages += 1
        assert pages < 50
    return rows


@pytest.mark.parametrize("direction", ["", "-"])
def test_cursor_pages_over_a_tied_ordering_are_complete_and_stable_both_ways(org, read_api, direction):
    """Seven customers share one created_at: the (created_at, id) keyset neither repeats nor skips any."""
    same = timezone.now() - datetime.timedelta(days=3)
    tied = [CustomerFactory(organization=org, created_at=same) for _ in range(7)]
    older = CustomerFactory(organization=org, created_at=same - datetime.timedelta(days=1))
    newer = CustomerFactory(organization=org, created_at=same + datetime.timedelta(days=1))
    key = (lambda c: (c.created_at, c.pk)) if not direction else (lambda c: (-c.created_at.timestamp(), -c.pk))
    expected = [c.pk for c in sorted([*tied, older, newer], key=key)]

    forward = _walk(read_api, f"{url('customers')}?ordering={direction}created_at&page_size=2")
    assert [row["id"] for row in forward] == expected

    # Walk back from the last page with the "previous" links: the same rows in reverse.
    parts_url = f"{url('customers')}?ordering={direction}created_at&page_size=2"
    last_next, page = None, read_api.get(parts_url).json()
    while page["next"]:
        last_next = page["next"]
        parts = urlsplit(last_next)
        page = read_api.get(f"{parts.path}?{parts.query}").json()
    backward = list(reversed(page["results"])) + _walk(read_api, page["previous"], link="previous")
    assert [row["id"] for row in backward] == list(reversed(expected))


def test_a_cursor_reused_with_another_ordering_or_forged_is_a_400(org, read_api):
    for _ in range(3):
        CustomerFactory(organization=org)
    page = read_api.get(url("customers"), {"ordering": "created_at", "page_size": 1}).json()
    cursor = "cursor=" + parse_qs(urlsplit(page["next"]).query)["cursor"][0]
    assert read_api.get(f"{url('customers')}?{cursor}&ordering=external_id&page_size=1").status_code == 400
    assert read_api.get(f"{url('customers')}?{cursor}&page_size=1").status_code == 400
    assert (
        read_api.get(url("customers"), {"ordering": "created_at", "cursor": "cD1bIm5hbWUiLDEsMl0="}).status_code == 400
    )


def test_updated_since_lists_changes_oldest_first_for_incremental_sync(org, read_api):
    """The recipe of the notes: keep the largest updated_at seen, ask again from a second before it."""
    customers = [CustomerFactory(organization=org) for _ in range(3)]
    base = timezone.now() - datetime.timedelta(hours=1)
    for minutes, customer in zip([20, 5, 10], customers, strict=True):
        type(customer).objects.filter(pk=customer.pk).update(updated_at=base + datetime.timedelta(minutes=minutes))
    since = (base + datetime.timedelta(minutes=5)).isoformat()
    rows = read_api.get(url("customers"), {"updated_since": since}).json()["results"]
    assert [row["id"] for row in rows] == [customers[1].pk, customers[2].pk, customers[0].pk]
    later = (base + datetime.timedelta(minutes=6)).isoformat()
    rows = read_api.get(url("customers"), {"updated_since": later}).json()["results"]
    assert [row["id"] for row in rows] == [customers[2].pk, customers[0].pk]


def test_the_schema_documents_the_conventions_on_every_list():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for prefix, _viewset in LIST_ROUTES:
        operation = schema["paths"][f"/api/v1/{prefix}/"]["get"]
        names = {parameter["name"] for parameter in operation["parameters"]}
        assert {"ordering", "fields", "updated_since", "cursor", "If-None-Match"} <= names, prefix
        assert {"200", "304", "400", "401", "403", "429"} <= set(operation["responses"]), prefix
        assert "ETag" in operation["responses"]["200"]["headers"]
    create = schema["paths"]["/api/v1/customers/"]["post"]
    assert {"400", "409", "429"} <= set(create["responses"])


@pytest.mark.parametrize("path", ["/api/v1/kpis/definitions/", "/api/v1/channel-budget/"])
def test_other_reads_carry_an_etag_too(path, read_api, org):
    first = read_api.get(path)
    assert first.status_code == 200 and first["ETag"]
    assert read_api.get(path, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


def test_errors_carry_no_etag(read_api):
    response = read_api.get("/api/v1/customer-mix/")
    assert response.status_code == 404 and "ETag" not in response
