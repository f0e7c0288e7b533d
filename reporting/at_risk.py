"""The at-risk list: customers the nightly run flagged as likely to churn, and the bulk follow-up on them.

Ops staff filter the list (tier, minimum value, owner), pick customers (or every one matching the filter) and,
in one action, give them an owner and a win-back task due in N days. The action is capped at
``FOLLOW_UP_LIMIT`` customers, runs in one transaction through the CRM services (so every owner change and
task is validated and audited), and is safe to repeat: a customer who already has an open win-back task gets
no second one.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.decorators import organization_required
from accounts.models import Organization, User
from accounts.permissions import CRM_WRITERS
from accounts.selectors import organization_members
from accounts.services import Actor, audit_record
from crm import services as crm_services
from crm.models import Customer, Task, TaskStatus
from reporting import selectors
from reporting.paging import KnownCountPaginator
from segmentation import selectors as score_selectors
from segmentation.models import CustomerScore, Tier

#: Most customers one bulk action may touch: enough for a day's calls, small enough for one transaction.
FOLLOW_UP_LIMIT = 500
AT_RISK_PER_PAGE = 50
MAX_DUE_IN_DAYS = 365
#: The title of the tasks this action creates; the same title in any language marks a win-back task.
WIN_BACK_TITLE = gettext_lazy("Win-back call: customer at risk of churning")

OWNER_ANY, OWNER_UNASSIGNED, OWNER_ME = "", "unassigned", "me"


def win_back_titles() -> set[str]:
    """The win-back title in every language of the site, so a task created in Chinese is recognised too."""
    titles = set()
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            titles.add(str(WIN_BACK_TITLE))
    return titles


# Selector ----------------------------------------------------------------------------------------------------


def at_risk_customers(
    *,
    org: Organization,
    tier: str = "",
    min_value: Decimal | None = None,
    owner: str = OWNER_ANY,
    user: User | None = None,
) -> QuerySet[CustomerScore]:
    """Scores of the customers flagged at risk, most valuable first (the ``score_org_at_risk`` index).

    Each row says whether the customer already has an open win-back task (``has_win_back``).
    """
    open_win_back = Task.objects.filter(
        organization=org, customer_id=OuterRef("customer_id"), status=TaskStatus.OPEN, title__in=win_back_titles()
    )
    scores = (
        CustomerScore.objects.for_org(org)
        .filter(at_risk=True)
        .select_related("customer", "customer__owner")
        .annotate(has_win_back=Exists(open_win_back))
    )
    if tier:
        scores = scores.filter(tier=tier)
    if min_value is not None:
        scores = scores.filter(customer_value__gte=min_value)
    if owner == OWNER_UNASSIGNED:
        scores = scores.filter(customer__owner__isnull=True)
    elif owner == OWNER_ME and user is not None:
        scores = scores.filter(customer__owner=user)
    return scores.order_by("-customer_value", "customer_id")


# Service -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowUpResult:
    customers: int
    owners_changed: int
    tasks_created: int
    tasks_skipped: int


def _parse_ids(customer_ids: Collection[Any]) -> list[int]:
    ids = []
    for value in customer_ids:
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            raise ValidationError({"customers": [_("“%(value)s” is not a customer id.") % {"value": value}]}) from None
    return sorted(set(ids))


@transaction.atomic
def at_risk_follow_up(
    *,
    org: Organization,
    actor: Actor,
    customer_ids: Collection[Any],
    owner: User | None = None,
    due_in_days: int | None = None,
    today: datetime.date,
) -> FollowUpResult:
    """Give the customers ``owner`` and/or a win-back task due ``due_in_days`` after ``today``, all or nothing.

    Every id must be a customer of ``org``: one that is not (another organization's, or deleted) fails the
    whole action with nothing written. The task goes to the new owner, else the customer's owner, else nobody
    (the team's unassigned inbox). Customers are locked while they are handled, so two people running the
    action at once cannot both create a win-back task for the same customer.
    """
    ids = _parse_ids(customer_ids)
    if not ids:
        raise ValidationError({"customers": [_("Select at least one customer.")]})
    if len(ids) > FOLLOW_UP_LIMIT:
        raise ValidationError(
            {
                "customers": [
                    _("At most %(limit)s customers per action; you selected %(count)s. Narrow the filter.")
                    % {"limit": FOLLOW_UP_LIMIT, "count": len(ids)}
                ]
            }
        )
    if owner is None and due_in_days is None:
        raise ValidationError({"action": [_("Choose an owner, a follow-up task, or both.")]})
    if due_in_days is not None and not 0 <= due_in_days <= MAX_DUE_IN_DAYS:
        raise ValidationError({"due_in_days": [_("The task is due in 0 to %(max)s days.") % {"max": MAX_DUE_IN_DAYS}]})
    customers = list(
        Customer.objects.for_org(org)
        .filter(pk__in=ids)
        .select_related("score")
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    missing = sorted(set(ids) - {customer.pk for customer in customers})
    if missing:
        shown = ", ".join(str(pk) for pk in missing[:10]) + (" …" if len(missing) > 10 else "")
        raise ValidationError(
            {
                "customers": [
                    ngettext(
                        "%(count)s selected customer is not in this organization (id %(ids)s). Nothing was changed.",
                        "%(count)s selected customers are not in this organization (ids %(ids)s). Nothing was changed.",
                        len(missing),
                    )
                    % {"count": len(missing), "ids": shown}
                ]
            }
        )
    has_task = set(
        Task.objects.for_org(org)
        .filter(customer_id__in=ids, status=TaskStatus.OPEN, title__in=win_back_titles())
        .values_list("customer_id", flat=True)
    )
    due_date = today + datetime.timedelta(days=due_in_days) if due_in_days is not None else None
    owners_changed = tasks_created = tasks_skipped = 0
    for customer in customers:
        if owner is not None and customer.owner_id != owner.pk:
            crm_services.customer_update(customer=customer, actor=actor, owner=owner)
            owners_changed += 1
        if due_date is None:
            continue
        if customer.pk in has_task:
            tasks_skipped += 1
            continue
        crm_services.task_create(
            org=org,
            actor=actor,
            customer=customer,
            title=str(WIN_BACK_TITLE),
            description=_win_back_description(customer),
            owner=owner if owner is not None else customer.owner,
            due_date=due_date,
        )
        tasks_created += 1
    result = FollowUpResult(len(customers), owners_changed, tasks_created, tasks_skipped)
    audit_record(
        org=org,
        actor=actor,
        action="at_risk.follow_up",
        object_type="customer",
        object_id="",
        after={
            "customer_ids": ids,
            "owner": owner.email if owner is not None else None,
            "due_date": due_date.isoformat() if due_date else None,
            "owners_changed": owners_changed,
            "tasks_created": tasks_created,
            "tasks_skipped": tasks_skipped,
        },
    )
    return result


def _win_back_description(customer: Customer) -> str:
    score = getattr(customer, "score", None)
    if score is None:
        return _("Flagged at risk of churning by the nightly scores. Call to win them back.")
    probability = f"{score.churn_probability * 100:.0f}%" if score.churn_probability is not None else "—"
    return _(
        "Flagged at risk on %(day)s: churn probability %(probability)s, customer value %(value)s, "
        "last purchase %(last)s. Call to win them back."
    ) % {
        "day": score.as_of.isoformat(),
        "probability": probability,
        "value": score.customer_value,
        "last": score.last_purchase_on.isoformat() if score.last_purchase_on else "—",
    }


# Forms -------------------------------------------------------------------------------------------------------


class AtRiskFilterForm(forms.Form):
    tier = forms.ChoiceField(label=gettext_lazy("Tier"), required=False, choices=[("", gettext_lazy("Any"))])
    min_value = forms.DecimalField(
        label=gettext_lazy("Minimum value"), required=False, min_value=0, max_digits=14, decimal_places=2
    )
    owner = forms.ChoiceField(
        label=gettext_lazy("Owner"),
        required=False,
        choices=[
            (OWNER_ANY, gettext_lazy("Anyone")),
            (OWNER_UNASSIGNED, gettext_lazy("Unassigned only")),
            (OWNER_ME, gettext_lazy("Mine")),
        ],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tier"].choices = [("", _("Any")), *Tier.choices]

    def filters(self) -> dict[str, Any]:
        """The valid filters; a tampered one is dropped, the others kept."""
        self.is_valid()
        data = self.cleaned_data
        return {"tier": data.get("tier") or "", "min_value": data.get("min_value"), "owner": data.get("owner") or ""}


class FollowUpForm(forms.Form):
    SELECTED, ALL = "selected", "all"

    scope = forms.ChoiceField(choices=[(SELECTED, SELECTED), (ALL, ALL)], initial=SELECTED)
    customer = forms.TypedMultipleChoiceField(required=False, coerce=str, choices=())
    assign = forms.BooleanField(required=False)
    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    create_task = forms.BooleanField(required=False)
    due_in_days = forms.IntegerField(required=False, min_value=0, max_value=MAX_DUE_IN_DAYS, initial=7)
    confirm = forms.BooleanField(required=False)

    def __init__(self, *args: Any, members: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = members
        self.fields["owner"].error_messages["invalid_choice"] = _("This person is not a member of the organization.")
        # Ids are checked against the organization by the service, which names the ones it does not know.
        self.fields["customer"].valid_value = lambda value: True

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("assign") and not data.get("create_task"):
            raise ValidationError(_("Choose an owner, a follow-up task, or both."))
        if data.get("assign") and data.get("owner") is None and "owner" not in self.errors:
            self.add_error("owner", _("Choose whom to assign the customers to."))
        if data.get("create_task") and data.get("due_in_days") is None and "due_in_days" not in self.errors:
            self.add_error("due_in_days", _("Say in how many days the task is due."))
        if data.get("scope") == self.SELECTED and not data.get("customer"):
            raise ValidationError(_("Select at least one customer, or choose every customer matching the filter."))
        return data


# View --------------------------------------------------------------------------------------------------------


def _render_list(
    request: HttpRequest, *, form: FollowUpForm | None = None, confirm: dict | None = None, status: int = 200
) -> HttpResponse:
    org = request.organization
    filter_form = AtRiskFilterForm(request.GET or None)
    filters = filter_form.filters() if filter_form.is_bound else {"tier": "", "min_value": None, "owner": ""}
    scores = at_risk_customers(org=org, user=request.user, **filters)
    # The unfiltered list (and a tier) is counted from the night's snapshot, not over every flagged score.
    breakdown = selectors.score_breakdown_of_night(org=org, as_of=score_selectors.scores_as_of(org=org))
    known = selectors.known_at_risk_count(breakdown, **filters)
    paginator = (
        Paginator(scores, AT_RISK_PER_PAGE)
        if known is None
        else KnownCountPaginator(scores, AT_RISK_PER_PAGE, count=known)
    )
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    can_assign = request.membership.role in CRM_WRITERS
    members = organization_members(org=org)
    if form is None:
        form = FollowUpForm(members=members, initial={"owner": request.user.pk, "due_in_days": 7})
    return render(
        request,
        "reporting/at_risk.html",
        {
            "filter_form": filter_form,
            "filters": filters,
            "page": page,
            "query": query.urlencode(),
            "can_assign": can_assign,
            "members": members if can_assign else [],
            "form": form,
            "confirm": confirm,
            "limit": FOLLOW_UP_LIMIT,
            "selected": {str(value) for value in form.data.getlist("customer")} if form.is_bound else set(),
        },
        status=status,
    )


@organization_required
def at_risk_list(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _render_list(request)
    if request.membership.role not in CRM_WRITERS:
        raise PermissionDenied(
            _("Your role (%(role)s) may only read here.") % {"role": request.membership.get_role_display()}
        )
    org = request.organization
    form = FollowUpForm(request.POST, members=organization_members(org=org))
    if not form.is_valid():
        return _render_list(request, form=form, status=400)
    data = form.cleaned_data
    if data["scope"] == FollowUpForm.ALL:
        filters = AtRiskFilterForm(request.GET).filters()
        matching = at_risk_customers(org=org, user=request.user, **filters)
        if not data["confirm"]:
            count = matching.count()
            due_date = (
                timezone.localdate() + datetime.timedelta(days=data["due_in_days"]) if data["create_task"] else None
            )
            confirm = {
                "count": count,
                "handled": min(count, FOLLOW_UP_LIMIT),
                "owner": data["owner"] if data["assign"] else None,
                "due_date": due_date,
            }
            return _render_list(request, form=form, confirm=confirm)
        ids = list(matching.values_list("customer_id", flat=True)[:FOLLOW_UP_LIMIT])
    else:
        ids = data["customer"]
    try:
        result = at_risk_follow_up(
            org=org,
            actor=Actor(user=request.user),
            customer_ids=ids,
            owner=data["owner"] if data["assign"] else None,
            due_in_days=data["due_in_days"] if data["create_task"] else None,
            today=timezone.localdate(),
        )
    except ValidationError as exc:
        for message in exc.messages:
            form.add_error(None, message)
        return _render_list(request, form=form, status=400)
    messages.success(request, _follow_up_message(result))
    return redirect(request.get_full_path())


def _follow_up_message(result: FollowUpResult) -> str:
    parts = [
        ngettext("%(count)s customer handled", "%(count)s customers handled", result.customers)
        % {"count": result.customers},
        ngettext("%(count)s owner changed", "%(count)s owners changed", result.owners_changed)
        % {"count": result.owners_changed},
        ngettext("%(count)s win-back task created", "%(count)s win-back tasks created", result.tasks_created)
        % {"count": result.tasks_created},
    ]
    if result.tasks_skipped:
        parts.append(
            ngettext(
                "%(count)s already had an open win-back task",
                "%(count)s already had an open win-back task",
                result.tasks_skipped,
            )
            % {"count": result.tasks_skipped}
        )
    return "; ".join(parts) + "."
