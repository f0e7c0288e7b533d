"""Consent history: every path that changes a customer's consent leaves one row per flag that really changed."""

from __future__ import annotations

import datetime
import importlib
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.services import Actor
from campaigns import services as campaign_services
from campaigns.models import Campaign, Delivery, DeliveryStatus
from crm import services
from crm.imports import pipeline
from crm.imports.bulk import bulk_upsert
from crm.models import ConsentChange, ConsentSource, Customer
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def history(customer: Customer) -> list[tuple[str, bool, str]]:
    return list(
        ConsentChange.objects.filter(customer=customer).order_by("id").values_list("channel", "granted", "source")
    )


def test_creating_a_customer_with_consent_records_it_and_without_consent_records_nothing(org, ops_user):
    actor = Actor(user=ops_user)
    consenting = services.customer_create(org=org, actor=actor, name="A", consent_email=True, consent_sms=True)
    silent = services.customer_create(org=org, actor=actor, name="B")

    assert history(consenting) == [("email", True, "page"), ("sms", True, "page")]
    change = ConsentChange.objects.filter(customer=consenting).first()
    assert change.actor_label == ops_user.email
    assert change.at == consenting.consent_email_at
    assert history(silent) == []


def test_an_update_records_only_the_flags_that_changed(org, ops_user):
    customer = CustomerFactory(organization=org, consent_email=True, consent_sms=False)
    actor = Actor(user=ops_user)

    services.customer_update(customer=customer, actor=actor, consent_email=True, consent_sms=True, name="New name")
    services.customer_update(customer=customer, actor=actor, consent_email=False)
    services.customer_update(customer=customer, actor=actor, consent_email=False)

    assert history(customer) == [("sms", True, "page"), ("email", False, "page")]


def test_the_api_records_its_changes_as_api_for_keys_and_signed_in_people(org, write_api, session_api, ops_user):
    customer = CustomerFactory(organization=org)

    assert (
        write_api.patch(f"/api/v1/customers/{customer.pk}/", {"consent_email": True}, format="json").status_code == 200
    )
    response = session_api(ops_user).patch(f"/api/v1/customers/{customer.pk}/", {"consent_sms": True}, format="json")
    assert response.status_code == 200
    created = write_api.post("/api/v1/customers/", {"external_id": "API-1", "consent_email": True}, format="json")

    assert history(customer) == [("email", True, "api"), ("sms", True, "api")]
    assert ConsentChange.objects.filter(customer_id=created.json()["id"]).get().actor_label.startswith("api-key:")


def test_a_bulk_write_records_new_consent_and_changed_consent_but_not_repeats(org):
    kept = CustomerFactory(organization=org, external_id="K", consent_email=True)
    withdrawn = CustomerFactory(organization=org, external_id="W", consent_email=True)
    untouched = CustomerFactory(organization=org, external_id="U", consent_email=True)
    records = [
        {"external_id": "K", "consent_email": True},
        {"external_id": "W", "consent_email": False},
        {"external_id": "U", "name": "No consent column"},
        {"external_id": "NEW-YES", "consent_email": True},
        {"external_id": "NEW-NO", "consent_email": False},
    ]

    bulk_upsert(org=org, actor=Actor(label="shop sync"), kind="customers", records=records)

    assert history(kept) == [] and history(untouched) == []
    assert history(withdrawn) == [("email", False, "api")]
    new_yes = Customer.objects.get(organization=org, external_id="NEW-YES")
    assert history(new_yes) == [("email", True, "api")]
    assert ConsentChange.objects.get(customer=new_yes).at == new_yes.consent_email_at
    assert history(Customer.objects.get(organization=org, external_id="NEW-NO")) == []


def test_a_csv_import_records_its_changes_as_import_with_who_imported(org, tmp_path: Path):
    customer = CustomerFactory(organization=org, external_id="C1", consent_email=False)
    path = tmp_path / "customers.csv"
    path.write_text("external_id,consent_email\nC1,yes\nC2,no\nC3,yes\n")
    job = pipeline.import_job_create(
        org=org, actor=Actor(label="nightly sftp"), kind="customers", source=path, original_filename="customers.csv"
    )
    pipeline.import_job_run(job=job)

    assert history(customer) == [("email", True, "import")]
    assert ConsentChange.objects.filter(organization=org).count() == 2  # C1 and C3; C2 stays without consent
    assert set(ConsentChange.objects.values_list("actor_label", flat=True)) == {"nightly sftp"}


def test_the_unsubscribe_link_and_a_reported_complaint_record_their_own_source(org, marketer_user):
    clicked = CustomerFactory(organization=org, consent_email=True)
    complained = CustomerFactory(organization=org, consent_email=True, email="angry@example.com")
    campaign = Campaign.objects.create(organization=org, name="Spring")
    delivery = Delivery.objects.create(
        organization=org, campaign=campaign, customer=clicked, status=DeliveryStatus.SENT, assigned_at=timezone.now()
    )

    campaign_services.delivery_unsubscribe(delivery=delivery)
    campaign_services.suppression_create(
        org=org, actor=Actor(user=marketer_user), email="angry@example.com", reason="complaint"
    )

    assert history(clicked) == [("email", False, ConsentSource.UNSUBSCRIBE_LINK)]
    assert ConsentChange.objects.get(customer=clicked).actor_label == "unsubscribe link"
    assert history(complained) == [("email", False, ConsentSource.SUPPRESSION)]


def test_the_api_lists_consent_changes_by_customer_and_hides_other_organizations(org, other_org, read_api, write_api):
    mine = CustomerFactory(organization=org)
    services.customer_update(customer=mine, actor=Actor(label="x"), consent_email=True)
    theirs = CustomerFactory(organization=other_org)
    services.customer_update(customer=theirs, actor=Actor(label="x"), consent_email=True)

    listed = read_api.get("/api/v1/consent-changes/", {"customer": mine.pk}).json()["results"]
    foreign = read_api.get("/api/v1/consent-changes/", {"customer": theirs.pk}).json()["results"]
    other_row = ConsentChange.objects.get(customer=theirs)

    assert [(row["customer"], row["channel"], row["granted"], row["source"]) for row in listed] == [
        (mine.pk, "email", True, "page")
    ]
    assert foreign == []
    assert read_api.get(f"/api/v1/consent-changes/{other_row.pk}/").status_code == 404
    assert write_api.post("/api/v1/consent-changes/", {}, format="json").status_code == 405


def test_the_customer_page_shows_the_consent_history(client, org, ops_user):
    customer = CustomerFactory(organization=org)
    services.customer_update(customer=customer, actor=Actor(user=ops_user), consent_sms=True)
    client.force_login(ops_user)

    page = client.get(reverse("crm:customer-detail", args=[customer.pk])).content.decode()

    assert 'id="consent-history"' in page
    assert "withdrawn" not in page.split('id="consent-history"')[1].split("</article>")[0]
    assert ops_user.email in page.split('id="consent-history"')[1]


def test_the_migration_records_the_current_state_of_customers_whose_consent_date_is_known(org):
    """The data step of the migration, run on today's schema: one row per flag with a change date."""
    when = timezone.now() - datetime.timedelta(days=10)
    dated = CustomerFactory(organization=org, consent_email=True, consent_email_at=when)
    withdrawn_sms = CustomerFactory(organization=org, consent_sms=False, consent_sms_at=when)
    undated = CustomerFactory(organization=org, consent_email=True)
    migration = importlib.import_module("crm.migrations.0006_consent_history_erasure_and_event_age_index")

    with connection.cursor() as cursor:
        for statement in migration.RECORD_CURRENT_CONSENT:
            cursor.execute(statement)

    assert history(dated) == [("email", True, "history_start")]
    assert ConsentChange.objects.get(customer=dated).at == when
    assert history(withdrawn_sms) == [("sms", False, "history_start")]
    assert history(undated) == []
