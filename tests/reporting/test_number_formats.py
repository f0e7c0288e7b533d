"""Amounts read the way the reader counts: 万 and 亿 in Chinese with CNY, plain elsewhere."""

from __future__ import annotations

import pytest
from django.utils import translation

from reporting.templatetags.custops_format import money, money_local


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1234.5, "¥1,234.50"),
        (12345, "¥1.23万"),
        (98765432.1, "¥9876.54万"),
        (123456789, "¥1.23亿"),
        (-25000, "-¥2.50万"),
        (None, "—"),
    ],
)
def test_chinese_readers_see_cny_in_wan_and_yi(value, expected):
    with translation.override("zh-hans"):
        assert money_local(value, "CNY") == expected


def test_other_languages_and_currencies_keep_the_plain_amount():
    with translation.override("en"):
        assert money_local(12345, "CNY") == money(12345) == "12,345.00"
    with translation.override("zh-hans"):
        assert money_local(12345, "USD") == "12,345.00"
        assert money_local(12345) == "12,345.00"


@pytest.mark.django_db
def test_the_overview_shows_revenue_in_wan_to_a_chinese_reader(client, org, admin_user):
    from reporting.models import KpiSnapshot

    KpiSnapshot.objects.create(organization=org, day="2026-11-01", values={"revenue": 123456.0})
    org.currency = "CNY"
    org.save()
    client.force_login(admin_user)
    client.cookies["django_language"] = "zh-hans"

    page = client.get("/reports/")

    assert "¥12.35万" in page.content.decode()


def test_money_with_currency_names_the_currency_once():
    from reporting.templatetags.custops_format import money_with_currency

    with translation.override("zh-hans"):
        assert money_with_currency(123456, "CNY") == "¥12.35万"
        assert money_with_currency(1234.5, "USD") == "1,234.50 USD"
    with translation.override("en"):
        assert money_with_currency(1234.5, "CNY") == "1,234.50 CNY"
        assert money_with_currency(None, "CNY") == "—"
