"""Every role walks through the home page and every report page, in English and in Simplified Chinese.

One scored demo organization (``scored_demo``, a real nightly run) and one browser serve the whole sweep; each
(role, language) and each permission check is its own subtest, so one broken page does not hide the others. For
every page: no server error, no JavaScript error, the page is in the chosen language (``<html lang>``, the
translated navigation and heading), a full-page screenshot in var/screenshots/role-<role>-<language>-<page>.png,
and on the KPI overview, the channel table and the cohort heatmap, every number equals the API's (read over HTTP
with an API key of the organization) as the page formats it.

Pages whose route does not exist yet are skipped by name, so the sweep picks them up when they land.
"""

from __future__ import annotations

import datetime
import io
import json
import re
import urllib.parse
import urllib.request

import pytest
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from playwright.sync_api import expect

from accounts.models import Organization
from accounts.services import api_key_create
from crm.models import Channel
from reporting.models import Target
from tests.e2e.conftest import SCREENSHOTS, VIEWPORT
from tests.e2e.test_reports import log_in, scored_demo  # noqa: F401 (the fixture is used by name)

pytestmark = pytest.mark.django_db(transaction=True)

ROLES = ("admin", "ops", "marketer", "viewer")
LANGUAGES = ("en", "zh-hans")
#: (screenshot name, URL names to try in turn, the page's <h1> msgid, or None when it is not a fixed string, or
#: ``DATA`` when the <h1> is a record's name, the same in every language).
DATA = "data"
PAGES = (
    ("home", ("home",), None),
    ("kpis", ("reporting:kpi-overview",), "Executive overview"),
    ("channels", ("reporting:channel-report", "reporting:channel-list"), None),
    ("channel-detail", ("reporting:channel-detail",), DATA),
    ("cohorts", ("reporting:cohort-report",), None),
    ("customers", ("reporting:customer-value",), None),
    ("scores", ("reporting:score-list",), "Customer scores"),
    ("clv", ("reporting:clv-model",), "Lifetime-value model"),
    ("at-risk", ("reporting:at-risk",), "At-risk customers"),
    ("alerts", ("reporting:alert-list",), "Alerts"),
    ("jobs", ("reporting:job-list",), "Nightly jobs"),
)
#: A heading only this role's home shows.
HOME_HEADINGS = {
    "admin": "My at-risk customers",
    "ops": "My at-risk customers",
    "marketer": "Recent campaigns",
    "viewer": "Summary",
}
CJK = re.compile(r"[\u4e00-\u9fff]")
DASH = "—"


# Numbers as the pages write them (written out here, not imported from the product's filters) ---------------------


def percent_text(value) -> str:
    return DASH if value is None else f"{float(value) * 100:.1f}%"


def money_text(value) -> str:
    """``money``: two places, comma thousands, in every language."""
    return DASH if value is None else f"{float(value):,.2f}"


def money_local_text(value, language: str, currency: str) -> str:
    """``money_local``: for Chinese readers of a CNY organization, ¥ with 万 (10⁴) and 亿 (10⁸); else ``money``."""
    if value is None:
        return DASH
    if currency != "CNY" or not language.startswith("zh"):
        return money_text(value)
    number = float(value)
    sign, size = ("-" if number < 0 else ""), abs(number)
    if size >= 1e8:
        return f"{sign}¥{size / 1e8:.2f}亿"
    if size >= 1e4:
        return f"{sign}¥{size / 1e4:.2f}万"
    return f"{sign}¥{size:,.2f}"


def kpi_text(value, unit: str, language: str, currency: str) -> str:
    """A KPI tile's figure (``reporting/includes/kpi_value.html``)."""
    if value is None:
        return DASH
    if unit == "share":
        return percent_text(value)
    if unit == "money":
        return money_local_text(value, language, currency)
    if unit == "ratio":
        return f"{float(value):.2f}×"
    if unit == "score":
        return f"{float(value):.1f}"
    # floatformat:"0g": grouped as the language groups (English "1,234"; Chinese, Django's format, no separator).
    whole = round(float(value))
    return f"{whole:,}" if language == "en" else str(whole)


# The API, over HTTP with the organization's key ------------------------------------------------------------------


def api_rows(base_url: str, key: str, path: str, **params) -> list[dict]:
    """Every row of a list endpoint, following ``next`` links (or the whole body when it is a plain list)."""
    url = f"{base_url}{path}?{urllib.parse.urlencode({'page_size': 500, **params})}"
    rows: list[dict] = []
    while url:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}", "Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=15) as response:
            body = json.load(response)
        if isinstance(body, list):
            return body
        rows += body["results"]
        url = body.get("next")
    return rows


# Reading the pages -----------------------------------------------------------------------------------------------


def url_of(names: tuple[str, ...], org: Organization) -> str | None:
    """The first of ``names`` that resolves (the channel detail: of the organization's first channel)."""
    for name in names:
        try:
            if name == "reporting:channel-detail":
                return reverse(name, args=[Channel.objects.for_org(org).order_by("pk").first().code])
            return reverse(name)
        except NoReverseMatch:
            continue
    return None


def table_cells(page, selector: str) -> dict:
    """A table's header texts and, per body row, its first cell's text and every cell's text (trimmed)."""
    return page.eval_on_selector(
        selector,
        """table => ({
            header: [...table.querySelectorAll('thead th')].map(cell => cell.textContent.trim()),
            rows: [...table.querySelectorAll('tbody tr')].map(row =>
                [...row.querySelectorAll('th, td')].map(cell => cell.textContent.replace(/\\s+/g, ' ').trim())),
        })""",
    )


def column(header: list[str], label: str) -> int:
    """The index of the column whose header starts with ``label`` (headers may carry a sort arrow)."""
    matches = [index for index, text in enumerate(header) if text.startswith(label)]
    assert matches, f"no column {label!r} in {header}"
    return matches[0]


def kpi_mismatches(page, api: dict, language: str, currency: str) -> list[str]:
    tiles = page.eval_on_selector_all(
        ".kpi-tile", "tiles => tiles.map(tile => [tile.id, tile.querySelector('strong').textContent.trim()])"
    )
    assert tiles, "no KPI tile on the overview"
    latest = api["kpis"]
    wrong = []
    for tile_id, shown in tiles:
        code = tile_id.removeprefix("kpi-")
        assert code in api["units"], f"tile {tile_id} is no KPI of /api/v1/kpis/definitions/"
        expected = kpi_text(latest["values"].get(code), api["units"][code], language, currency)
        if shown != expected:
            wrong.append(f"KPI {code}: page {shown!r}, API {expected!r} ({latest['values'].get(code)!r})")
    return wrong


def channel_mismatches(page, api: dict, language: str, currency: str) -> list[str]:
    table = table_cells(page, "#channel-table")
    rows = api["channels"]
    assert len(table["rows"]) == len(rows), f"{len(table['rows'])} channel rows on the page, {len(rows)} in the API"
    with translation.override(language):
        columns = {
            key: column(table["header"], translation.gettext(label))
            for key, label in (
                ("spend", "Spend"),
                ("new_customers", "New customers"),
                ("cac", "CAC"),
                ("conversion", "Conversion"),
                ("mean_customer_value", "Mean customer value"),
                ("ltv_cac", "LTV/CAC"),
                ("roi", "ROI"),
                ("payback_months", "Payback (months)"),
                ("repeat_rate_90d", "90-day repeat"),
            )
        }
    by_name = {row["channel_name"]: row for row in rows}
    wrong = []
    for cells in table["rows"]:
        metric = by_name.get(cells[0])
        if metric is None:
            wrong.append(f"channel {cells[0]!r} is not in the API")
            continue

        def money_either(value):
            # Amounts are plain ``money`` in the league table today; ``money_local`` is as right for a reader.
            return {money_text(value), money_local_text(value, language, currency)}

        expected = {
            "spend": money_either(metric["spend"]),
            "new_customers": {str(metric["new_customers"]), f"{metric['new_customers']:,}"},
            "cac": money_either(metric["cac"]),
            "conversion": {
                f"{percent_text(metric['conversion'])} ({metric['converted_contacts']}/{metric['contacts']})",
                percent_text(metric["conversion"]),
            },
            "mean_customer_value": money_either(metric["mean_customer_value"]),
            "ltv_cac": {DASH if metric["ltv_cac"] is None else f"{float(metric['ltv_cac']):.2f}×"},
            "roi": {percent_text(metric["roi"])},
            "payback_months": {DASH if metric["payback_months"] is None else f"{float(metric['payback_months']):.1f}"},
            "repeat_rate_90d": {percent_text(metric["repeat_rate_90d"])},
        }
        for key, index in columns.items():
            if cells[index] not in expected[key]:
                wrong.append(f"{cells[0]} {key}: page {cells[index]!r}, API {sorted(expected[key])}")
    return wrong


def cohort_mismatches(page, api: dict) -> list[str]:
    """The heatmap's rows: the month (``YYYY-MM``), the cohort's size, then one retention cell per month since."""
    table = table_cells(page, "#cohort-table")
    cells = {(row["cohort_month"][:7], row["months_since"]): row for row in api["cohorts"]}
    sizes = {row["cohort_month"][:7]: row["cohort_size"] for row in api["cohorts"]}
    assert len(table["rows"]) == len(sizes), f"{len(table['rows'])} cohorts on the page, {len(sizes)} in the API"
    wrong = []
    shown = 0
    for month, size, *retention in table["rows"]:
        if str(sizes.get(month)) != size:
            wrong.append(f"cohort {month} size: page {size!r}, API {sizes.get(month)!r}")
        for months_since, text in enumerate(retention):
            cell = cells.get((month, months_since))
            expected = percent_text(cell["retention"]) if cell else "(no cell)"
            shown += 1
            if text != expected:
                wrong.append(f"cohort {month} month {months_since}: page {text!r}, API {expected!r}")
    assert shown == len(cells), f"{shown} cohort cells on the page, {len(cells)} in the API"
    return wrong


# The sweep -------------------------------------------------------------------------------------------------------


@pytest.fixture
def sweep(browser, live_server, scored_demo):  # noqa: F811 - pytest fixture injection
    """The demo with the playbook's targets, the API's figures, and a way to open a browser tab per role."""
    call_command("seed_demo_targets", "--org", scored_demo.slug, stdout=io.StringIO())
    _key, plaintext = api_key_create(org=scored_demo, name="role sweep", scopes=["read"])
    base = live_server.url
    snapshots = api_rows(base, plaintext, "/api/v1/kpis/")
    latest = max(snapshots, key=lambda row: row["day"])
    channels = api_rows(base, plaintext, "/api/v1/channel-metrics/", period="trailing_90d")
    newest_channel_day = max(row["as_of"] for row in channels)
    cohorts = api_rows(base, plaintext, "/api/v1/cohorts/")
    newest_cohort_day = max(row["as_of"] for row in cohorts)
    api = {
        "kpis": latest,
        "units": {row["code"]: row["unit"] for row in api_rows(base, plaintext, "/api/v1/kpis/definitions/")},
        "channels": [row for row in channels if row["as_of"] == newest_channel_day],
        "cohorts": [row for row in cohorts if row["as_of"] == newest_cohort_day],
    }
    contexts = []

    def open_tab(role: str):
        context = browser.new_context(base_url=base, viewport=VIEWPORT, locale="en-US")
        context.set_default_timeout(10_000)
        contexts.append(context)
        tab = context.new_page()
        tab.errors = []
        tab.on("pageerror", lambda error: tab.errors.append(str(error)))
        log_in(tab, f"{role}1@{scored_demo.slug}.custops.local")
        return tab

    yield {"org": scored_demo, "api": api, "open_tab": open_tab}
    for context in contexts:
        context.close()


def read_every_page(tab, *, role: str, language: str, org: Organization, api: dict) -> list[str]:
    """Open each page in turn; what is wrong with any of them (the sweep goes on past a bad page)."""
    problems = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with translation.override(language):
        reports_label = translation.gettext("Reports")
        home_label = translation.gettext("Home")
    for name, url_names, heading in PAGES:
        url = url_of(url_names, org)
        if url is None:
            continue  # the route is not there yet
        errors_before = len(tab.errors)
        response = tab.goto(url)
        where = f"{role}/{language}/{name}"
        if response is None or response.status != 200:
            problems.append(f"{where}: status {response.status if response else 'none'}")
            continue
        tab.wait_for_load_state("load")
        tab.screenshot(path=str(SCREENSHOTS / f"role-{role}-{language}-{name}.png"), full_page=True)
        if len(tab.errors) > errors_before:
            problems.append(f"{where}: JavaScript errors {tab.errors[errors_before:]}")
        if tab.locator("html").get_attribute("lang") != language:
            problems.append(f"{where}: <html lang> is {tab.locator('html').get_attribute('lang')!r}")
        nav = tab.locator("#main-nav").inner_text()
        if home_label not in nav or reports_label not in nav:
            problems.append(f"{where}: navigation not in {language}: {nav!r}")
        h1 = tab.locator("h1").first.inner_text().strip()
        with translation.override(language):
            if heading not in (None, DATA) and h1 != translation.gettext(heading):
                problems.append(f"{where}: <h1> {h1!r}, expected {translation.gettext(heading)!r}")
            if name == "home":
                expected = translation.gettext(HOME_HEADINGS[role])
                if tab.locator("h2", has_text=expected).count() == 0:
                    problems.append(f"{where}: no heading {expected!r} on the home page")
        if name != "home" and heading != DATA and bool(CJK.search(h1)) != (language == "zh-hans"):
            # The zh-hans catalogue is complete: a heading in the wrong language is a failure, with or without an
            # entry (no entry: the catalogue needs one; an entry: the page does not translate the heading).
            with translation.override(language):
                untranslated = language != "en" and translation.gettext(h1) == h1
            problems.append(
                f"{where}: <h1> {h1!r} is not in {language}" + (" (no catalogue entry)" if untranslated else "")
            )
        if name == "kpis":
            problems += [f"{where}: {line}" for line in kpi_mismatches(tab, api, language, org.currency)]
        if name == "channels":
            problems += [f"{where}: {line}" for line in channel_mismatches(tab, api, language, org.currency)]
        if name == "cohorts":
            problems += [f"{where}: {line}" for line in cohort_mismatches(tab, api)]
    return problems


def test_every_role_reads_every_page_in_both_languages_and_only_admins_change_targets(sweep, subtests):
    """One test, so that the scored demo is built once; each role, language and permission is a subtest."""
    org, api = sweep["org"], sweep["api"]
    assert api["channels"] and api["cohorts"] and api["kpis"]["values"], "the nightly left nothing to compare"
    for role in ROLES:
        tab = sweep["open_tab"](role)
        for language in LANGUAGES:
            with subtests.test(role=role, language=language):
                if language != "en":
                    tab.locator(f"#language-switcher button[value='{language}']").click()
                    expect(tab.locator("html")).to_have_attribute("lang", language)
                problems = read_every_page(tab, role=role, language=language, org=org, api=api)
                assert problems == [], "\n".join(problems)
        tab.context.close()
    check_permissions(sweep, subtests)


def check_permissions(sweep, subtests) -> None:
    """Ops users cannot change targets (no controls, 403 on the post); viewers' score exports follow the switch."""
    org = sweep["org"]
    assert Target.objects.for_org(org).exists(), "the demo targets were not seeded"
    create_url = reverse("reporting:target-create")
    form = {
        "name": "Churn under 5%",
        "metric": "monthly_churn_rate",
        "baseline_value": "8",
        "baseline_date": (datetime.date.today() - datetime.timedelta(days=1)).isoformat(),
        "target_value": "5",
        "deadline": (datetime.date.today() + datetime.timedelta(days=180)).isoformat(),
    }

    def post_target(tab):
        token = tab.locator("#language-switcher input[name=csrfmiddlewaretoken]").get_attribute("value")
        return tab.request.post(
            create_url, form={**form, "csrfmiddlewaretoken": token}, headers={"Referer": tab.url}, max_redirects=0
        )

    with subtests.test("an ops user sees no target controls and may not post a target"):
        tab = sweep["open_tab"]("ops")
        tab.goto(reverse("reporting:kpi-overview"))
        expect(tab.locator("#target-table tbody tr").first).to_be_visible()
        expect(tab.locator("#add-target")).to_have_count(0)
        expect(tab.locator("#target-table .target-edit")).to_have_count(0)
        expect(tab.locator(f"a[href='{create_url}']")).to_have_count(0)
        before = Target.objects.for_org(org).count()
        assert post_target(tab).status == 403
        assert Target.objects.for_org(org).count() == before

    with subtests.test("an admin sees them, and the same post adds the target"):
        tab = sweep["open_tab"]("admin")
        tab.goto(reverse("reporting:kpi-overview"))
        expect(tab.locator("#add-target")).to_be_visible()
        expect(tab.locator("#target-table .target-edit").first).to_be_visible()
        assert post_target(tab).status == 302  # so the ops 403 above is the role's, not a CSRF refusal
        assert Target.objects.for_org(org).filter(name=form["name"]).exists()

    export_url = reverse("reporting:export-scores-csv")

    def export_header(tab) -> list[str]:
        response = tab.request.get(export_url)
        assert response.status == 200, response.status
        return response.text().lstrip("\ufeff").splitlines()[0].split(",")

    with subtests.test("a viewer exports the scores, with names only while the organization allows it"):
        viewer = sweep["open_tab"]("viewer")
        ops = sweep["open_tab"]("ops")
        assert org.viewers_export_customer_pii  # the default
        header = export_header(viewer)
        assert {"External id", "Name", "E-mail", "Phone"} <= set(header), header
        Organization.objects.filter(pk=org.pk).update(viewers_export_customer_pii=False)
        header = export_header(viewer)
        assert "External id" in header and "Tier" in header
        assert not {"Name", "E-mail", "Phone"} & set(header), header
        assert {"Name", "E-mail", "Phone"} <= set(export_header(ops))  # the switch is about viewers only
