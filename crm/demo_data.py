"""A vectorised simulator of a believable customer base for the demo organization: numpy only, no Django.

A demo only teaches something when its data follow the processes the nightly engine assumes (DESIGN.md §4):
customers arrive through channels that differ in cost and in the quality of what they bring, buy at a
personal rate until they quietly drop out, and a few spend far more than the rest. So the demo data are
drawn from the same models the engine later fits, with parameters that differ by channel:

- purchases follow BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): each buyer
  has a rate λ ~ Gamma(r, α) per day and, after each purchase, drops out for good with probability
  p ~ Beta(a, b);
- order values follow the Gamma-Gamma model (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999):
  ν ~ Gamma(q, γ) per customer and each order ~ Gamma(p, ν), so the customer mean p/ν has a heavy right tail;
- the calendar is not flat: acquisitions grow month on month, and both acquisitions and purchases follow the
  Chinese retail year (618, Singles' Day 11.11, Double 12, the Spring Festival lull), weekends and the hour of
  day. Each process is simulated at a constant rate on an "operational clock" whose speed follows that
  calendar and mapped back to wall-clock time with ``np.interp`` (a time change of a Poisson process), which
  keeps everything vectorised: there is no Python loop over customers anywhere in this module.

Everything is deterministic for a given ``seed`` and ``today``. Times are seconds since the Unix epoch in UTC
(``datetime64[s]``); the simulation itself runs in the organization's local time (Asia/Shanghai, UTC+8,
which has no daylight saving time, so a fixed offset is exact).

Contact details are made up and deliberately undeliverable: e-mail domains use the reserved ``.example``
top-level domain (RFC 2606) and phone numbers use the unallocated Chinese mobile prefix ``+86 12x``, so a
demo wired to a real mail or SMS gateway cannot reach a real person.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass

import numpy as np
from numpy.dtypes import StringDType

HISTORY_MONTHS = 24
SECONDS_PER_DAY = 86_400
TEXT = StringDType()

ORDER_STATUSES = ("completed", "pending", "cancelled", "refunded")
EVENT_NAMES = ("page_view", "app_open", "login", "add_to_cart")
FEEDBACK_KINDS = ("nps", "csat")
TASK_STATUSES = ("open", "done")
CUSTOMER_TAGS = ("vip", "wholesale", "newsletter")

# Shared shapes of the mixing distributions; channels differ in the means (see ChannelProfile).
PURCHASE_RATE_SHAPE = 0.9  # r of BG/NBD: below 1, most buyers are slow and a few are very frequent
DROPOUT_CONCENTRATION = 3.0  # a + b of BG/NBD
ORDER_VALUE_SHAPE = 4.0  # p of Gamma-Gamma
ORDER_VALUE_SCALE_SHAPE = 3.2  # q of Gamma-Gamma: the tail of customer mean spend falls off like x^-q
MAX_PURCHASE_RATE = 0.5  # per day; keeps the fastest simulated buyer plausible
WHOLESALE_SHARE = 0.01
WHOLESALE_SPEND_MULTIPLIER = 6.0
VIP_SHARE = 0.02  # of buyers, by revenue
SAME_SESSION_FIRST_ORDER_SHARE = 0.45
MIN_ORDER_CENTS = 990
MAX_ORDER_CENTS = 50_000_000
PENDING_DAYS = 3
ORDER_LINKED_EVENT_ORDERS = 5  # the last N orders of a customer get browse/cart events
MAX_ENGAGEMENT_EVENTS = 10
MAX_EVENTS_PER_CUSTOMER = 1 + 2 * ORDER_LINKED_EVENT_ORDERS + MAX_ENGAGEMENT_EVENTS
NPS_SHARE_OF_BUYERS = 0.15
CSAT_SHARE_OF_ORDERS = 0.05
COMMENT_SHARE = 0.3


@dataclass(frozen=True)
class ChannelProfile:
    """What one acquisition channel costs and what kind of customers it brings.

    The BG/NBD and Gamma-Gamma parameters are derived from readable means: ``mean_days_between_purchases``
    is 1/E[λ], ``mean_dropout`` is E[p] and ``mean_order_value`` is E[order amount] in yuan.
    """

    code: str
    name: str
    kind: str
    acquisition_share: float
    cac: float
    never_buy_share: float
    mean_days_between_purchases: float
    mean_dropout: float
    mean_order_value: float
    email_consent_share: float = 0.8
    launched_months_ago: int | None = None
    cac_drift_per_year: float = 0.0

    @property
    def purchase_rate_rate(self) -> float:
        """α of Gamma(r, α) so that E[λ] = r/α = 1/mean_days_between_purchases."""
        return PURCHASE_RATE_SHAPE * self.mean_days_between_purchases

    @property
    def dropout_beta(self) -> tuple[float, float]:
        return self.mean_dropout * DROPOUT_CONCENTRATION, (1 - self.mean_dropout) * DROPOUT_CONCENTRATION

    @property
    def order_value_gamma(self) -> float:
        """γ of Gamma-Gamma so that E[amount] = pγ/(q − 1) = mean_order_value."""
        return self.mean_order_value * (ORDER_VALUE_SCALE_SHAPE - 1) / ORDER_VALUE_SHAPE


# Many cheap, short-lived customers from feeds and affiliates; few expensive, loyal ones from stores,
# KOL partners and referrals. ``xiaohongshu`` is the channel under test, launched eight months ago.
DEFAULT_CHANNELS: tuple[ChannelProfile, ...] = (
    # code, name, kind, share of sign-ups, CAC, never buy, days between purchases, dropout, order value
    ChannelProfile("search-ads", "Search ads (Baidu)", "paid", 0.15, 95, 0.30, 30, 0.20, 260, cac_drift_per_year=0.15),
    ChannelProfile("social-ads", "Social ads", "paid", 0.13, 60, 0.40, 40, 0.30, 170, cac_drift_per_year=0.25),
    ChannelProfile("wechat", "WeChat official account", "social", 0.12, 40, 0.25, 24, 0.14, 230),
    ChannelProfile("douyin", "Douyin live commerce", "social", 0.17, 28, 0.50, 50, 0.40, 120),
    ChannelProfile("xiaohongshu", "Xiaohongshu notes", "social", 0.05, 70, 0.35, 26, 0.18, 280, launched_months_ago=8),
    ChannelProfile("seo", "Organic search", "organic", 0.08, 18, 0.30, 32, 0.18, 230),
    ChannelProfile("referral", "Customer referral", "referral", 0.07, 35, 0.15, 18, 0.09, 310),
    ChannelProfile("partner-kol", "KOL partnerships", "partner", 0.05, 160, 0.25, 22, 0.12, 400),
    ChannelProfile("email", "E-mail newsletter", "email", 0.04, 8, 0.20, 20, 0.11, 250, email_consent_share=0.98),
    ChannelProfile("offline-store", "Offline stores", "offline", 0.07, 220, 0.05, 15, 0.06, 520),
    ChannelProfile("affiliate", "Affiliate sites", "partner", 0.07, 45, 0.45, 50, 0.35, 150, launched_months_ago=15),
)  # fmt: skip

# The recent month in which one channel's CAC jumps, so the demo has a CAC-spike alert to show.
CAC_SPIKE = ("social-ads", 1.6)

# Lunar New Year's Day by year; the weeks around it are quiet in Chinese retail.
SPRING_FESTIVAL = {
    2022: "2022-02-01",
    2023: "2023-01-22",
    2024: "2024-02-10",
    2025: "2025-01-29",
    2026: "2026-02-17",
    2027: "2027-02-06",
    2028: "2028-01-26",
    2029: "2029-02-13",
    2030: "2030-02-03",
    2031: "2031-01-23",
    2032: "2032-02-11",
}

# Relative shopping activity by local hour, 00:00–23:00: a lunch bump and an evening peak.
HOUR_PROFILE = np.array(
    [0.35, 0.2, 0.12, 0.08, 0.07, 0.1, 0.25, 0.5, 0.8, 1.0, 1.1, 1.2,
     1.35, 1.2, 1.05, 1.0, 1.0, 1.05, 1.15, 1.4, 1.7, 1.9, 1.6, 0.9]
)  # fmt: skip

SURNAMES = (
    ("Wang", 7.1), ("Li", 7.0), ("Zhang", 6.6), ("Liu", 5.4), ("Chen", 4.5), ("Yang", 3.1), ("Huang", 2.2),
    ("Zhao", 2.0), ("Wu", 2.0), ("Zhou", 1.9), ("Xu", 1.5), ("Sun", 1.4), ("Ma", 1.3), ("Zhu", 1.3),
    ("Hu", 1.2), ("Guo", 1.1), ("He", 1.1), ("Lin", 1.0), ("Gao", 1.0), ("Luo", 0.9), ("Zheng", 0.9),
    ("Liang", 0.8), ("Xie", 0.7), ("Song", 0.6), ("Tang", 0.6), ("Han", 0.5), ("Feng", 0.5), ("Deng", 0.5),
    ("Cao", 0.5), ("Peng", 0.5), ("Zeng", 0.5), ("Xiao", 0.5), ("Tian", 0.4), ("Dong", 0.4), ("Pan", 0.4),
    ("Yuan", 0.4), ("Cai", 0.4), ("Jiang", 0.4), ("Yu", 0.4), ("Du", 0.3), ("Ye", 0.3), ("Cheng", 0.3),
)  # fmt: skip
GIVEN_NAMES = (
    "Wei", "Fang", "Na", "Min", "Jing", "Li", "Qiang", "Lei", "Jun", "Yang", "Yong", "Yan", "Jie", "Juan",
    "Tao", "Ming", "Chao", "Xiuying", "Xia", "Ping", "Gang", "Hui", "Hao", "Yu", "Xin", "Yi", "Jiayi", "Zihan",
    "Yuxuan", "Haoran", "Zimo", "Yutong", "Xinyi", "Ruoxi", "Mingyu", "Zhiwei", "Xiaoming", "Lili", "Tingting",
    "Jianguo", "Shu", "Kai", "Bo", "Rui", "Lin", "Dan", "Ning", "Peng", "Xue", "Yun",
)  # fmt: skip
ENGLISH_GIVEN_NAMES = (
    "Kevin",
    "Grace",
    "Tony",
    "Vivian",
    "Eric",
    "Cindy",
    "Jason",
    "Amy",
    "Leo",
    "Coco",
    "Ivy",
    "Jack",
)
ENGLISH_NAME_SHARE = 0.12
EMAIL_DOMAINS = ("qq.example", "163.example", "126.example", "foxmail.example", "sina.example", "outlook.example")
CITIES = (
    ("Shanghai", 12), ("Beijing", 11), ("Shenzhen", 9), ("Guangzhou", 9), ("Hangzhou", 7), ("Chengdu", 7),
    ("Wuhan", 5), ("Nanjing", 5), ("Xi'an", 4), ("Chongqing", 5), ("Suzhou", 4), ("Tianjin", 4),
    ("Changsha", 3), ("Qingdao", 3), ("Xiamen", 2), ("Kunming", 2),
)  # fmt: skip
FEEDBACK_COMMENTS = {
    "low": ("物流太慢了", "客服回复不及时", "Item arrived damaged.", "与描述不符", "Refund took too long."),
    "mid": ("还可以", "价格有点贵", "OK, nothing special.", "包装一般"),
    "high": ("物流很快，包装完好", "质量很好，会回购", "Great service, thank you!", "客服很耐心", "Love it."),
}
NOTE_BODIES = (
    "Prefers WeChat over phone calls; best reached after 19:00.",
    "Asked about the wholesale price list for next quarter.",
    "Complained about a late delivery in the spring; sent a coupon, resolved.",
    "Buys gifts for the team before Spring Festival every year.",
    "Interested in the membership programme; follow up when it launches.",
    "VIP dinner invitation accepted.",
)
TASK_TITLES = (
    "Call back: high-value customer has gone quiet",
    "Send the wholesale price list",
    "Invite to the VIP preview of the 11.11 collection",
    "Check on the refund and apologise",
)


@dataclass(frozen=True)
class SpendRows:
    """Monthly spend per channel, one row per (channel, month), dated the month's first day."""

    channel: np.ndarray  # int16 index into DemoData.channels
    month: np.ndarray  # datetime64[D], first of the month
    cents: np.ndarray  # int64


@dataclass(frozen=True)
class CustomerRows:
    """One row per customer, in order of acquisition. The hidden truth (rates, dropout, spend) is kept
    for tests and for anyone checking that the nightly model recovers it."""

    channel: np.ndarray  # int16
    created_at: np.ndarray  # datetime64[s], UTC
    name: np.ndarray  # StringDType
    email: np.ndarray  # StringDType, "" when unknown
    phone: np.ndarray  # StringDType, "" when unknown
    consent_email: np.ndarray  # bool
    consent_sms: np.ndarray  # bool
    tag_mask: np.ndarray  # uint8, bit i set = CUSTOMER_TAGS[i]
    city: np.ndarray  # int16 index into CITIES
    owner_slot: np.ndarray  # int8, -1 = no owner, else index of an ops user
    purchase_rate: np.ndarray  # λ per day
    dropout: np.ndarray  # p
    mean_spend: np.ndarray  # yuan, the Gamma-Gamma customer mean p/ν (× the wholesale multiplier)

    def __len__(self) -> int:
        return len(self.channel)


@dataclass(frozen=True)
class OrderRows:
    """Orders month by month (see ``_load_order``), so external ids and database ids follow time by month."""

    customer: np.ndarray  # int32 index into the customers
    ordered_at: np.ndarray  # datetime64[s], UTC
    cents: np.ndarray  # int64
    status: np.ndarray  # int8 index into ORDER_STATUSES
    channel: np.ndarray  # int16, -1 = no channel recorded (a direct repeat purchase)

    def __len__(self) -> int:
        return len(self.customer)


@dataclass(frozen=True)
class EventRows:
    customer: np.ndarray  # int32
    name: np.ndarray  # int8 index into EVENT_NAMES
    occurred_at: np.ndarray  # datetime64[s], UTC
    sku: np.ndarray  # int32, product number for add_to_cart and product page views, -1 otherwise

    def __len__(self) -> int:
        return len(self.customer)


@dataclass(frozen=True)
class FeedbackRows:
    customer: np.ndarray  # int32
    kind: np.ndarray  # int8 index into FEEDBACK_KINDS
    score: np.ndarray  # int16
    scale_max: np.ndarray  # int16: 10 for NPS, 5 for CSAT
    answered_at: np.ndarray  # datetime64[s], UTC
    comment: np.ndarray  # StringDType, "" when none

    def __len__(self) -> int:
        return len(self.customer)


@dataclass(frozen=True)
class NoteRows:
    customer: np.ndarray  # int32
    author_slot: np.ndarray  # int8 index of an ops user
    body: np.ndarray  # StringDType
    created_at: np.ndarray  # datetime64[s], UTC

    def __len__(self) -> int:
        return len(self.customer)


@dataclass(frozen=True)
class TaskRows:
    customer: np.ndarray  # int32
    owner_slot: np.ndarray  # int8 index of an ops user
    title: np.ndarray  # StringDType
    due_date: np.ndarray  # datetime64[D], local date
    status: np.ndarray  # int8 index into TASK_STATUSES
    created_at: np.ndarray  # datetime64[s], UTC
    completed_at: np.ndarray  # datetime64[s], UTC; NaT while open

    def __len__(self) -> int:
        return len(self.customer)


@dataclass(frozen=True)
class DemoData:
    """Everything a demo organization holds, as arrays; rows refer to customers by their index."""

    seed: int
    today: datetime.date
    window_start: np.datetime64  # first instant simulated, UTC
    window_end: np.datetime64  # local midnight starting ``today``, UTC: nothing happens at or after it
    channels: tuple[ChannelProfile, ...]
    channel_launch: np.ndarray  # datetime64[D], first month each channel was used
    spend: SpendRows
    customers: CustomerRows
    orders: OrderRows
    events: EventRows
    feedback: FeedbackRows
    notes: NoteRows
    tasks: TaskRows


@dataclass(frozen=True)
class _Calendar:
    """The operational clock: cumulative shopping activity at each hour boundary of the window.

    Its unit is the average day, so a rate "per day" means per average day of the window.
    """

    hours: np.ndarray  # 0 .. n_hours: the grid, in wall-clock hours since the window start
    activity: np.ndarray  # intensity of each hour, mean 1
    cumulative: np.ndarray  # operational days elapsed at each grid point

    @property
    def end(self) -> float:
        return float(self.cumulative[-1])

    def to_operational(self, days: np.ndarray) -> np.ndarray:
        return np.interp(days * 24.0, self.hours, self.cumulative)

    def to_wall_clock(self, operational: np.ndarray) -> np.ndarray:
        return np.interp(operational, self.cumulative, self.hours) / 24.0


def simulate_demo(
    *,
    customers: int,
    seed: int,
    today: datetime.date,
    utc_offset_hours: int = 8,
    channels: tuple[ChannelProfile, ...] = DEFAULT_CHANNELS,
) -> DemoData:
    """Simulate ``customers`` customers acquired over the 24 months before ``today`` and all they did.

    Nothing is dated at or after the local midnight that starts ``today``, so running again on the same
    day with the same seed gives identical data.
    """
    if customers < 1:
        raise ValueError("customers must be at least 1")
    rng = np.random.default_rng(seed)
    this_month = np.datetime64(today, "M")
    first_day = (this_month - HISTORY_MONTHS).astype("datetime64[D]")
    n_days = int((np.datetime64(today, "D") - first_day).astype(int))
    window_start = first_day.astype("datetime64[s]") - np.timedelta64(utc_offset_hours, "h")
    days = first_day + np.arange(n_days)
    calendar = _calendar(days)
    launch = np.array(
        [
            first_day
            if profile.launched_months_ago is None
            else max(first_day, (this_month - profile.launched_months_ago).astype("datetime64[D]"))
            for profile in channels
        ]
    )

    acquired_days, channel_index = _acquisitions(rng, customers, channels, days, launch, calendar)
    params = _customer_parameters(rng, channels, channel_index)
    purchases = _purchases(rng, params, acquired_days, calendar, n_days)
    month_of_day = (days.astype("datetime64[M]") - this_month).astype(int) + HISTORY_MONTHS
    orders = _orders(rng, params, channel_index, purchases, month_of_day, window_start)
    customer_rows = _customers(rng, params, channel_index, acquired_days, orders, window_start)
    order_days = (orders.ordered_at - window_start).astype(np.int64) / SECONDS_PER_DAY
    events = _events(rng, len(customer_rows), acquired_days, orders, order_days, calendar, month_of_day, window_start)
    feedback = _feedback(rng, params, purchases["first_day"], orders, order_days, calendar, n_days, window_start)
    notes, tasks = _notes_and_tasks(rng, customer_rows, acquired_days, order_days, orders, n_days, window_start)
    spend = _spend(rng, channels, channel_index, acquired_days, days, launch)
    return DemoData(
        seed=seed,
        today=today,
        window_start=window_start,
        window_end=window_start + np.timedelta64(n_days * SECONDS_PER_DAY, "s"),
        channels=channels,
        channel_launch=launch,
        spend=spend,
        customers=customer_rows,
        orders=orders,
        events=events,
        feedback=feedback,
        notes=notes,
        tasks=tasks,
    )


def _calendar(days: np.ndarray) -> _Calendar:
    """Hourly shopping intensity from festivals, the Spring Festival lull, weekends and the hour of day."""
    month = days.astype("datetime64[M]").astype(int) % 12 + 1
    day_of_month = (days - days.astype("datetime64[M]")).astype(int) + 1
    weekday = (days.astype(int) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    daily = np.ones(len(days))
    daily[weekday >= 5] *= 1.15
    daily[(month == 6) & (day_of_month < 18)] *= 1.25
    daily[(month == 6) & (day_of_month == 18)] *= 2.5
    daily[(month == 11) & (day_of_month < 11)] *= 1.3
    daily[(month == 11) & (day_of_month == 11)] *= 4.0
    daily[(month == 11) & (day_of_month == 12)] *= 1.5
    daily[(month == 12) & (day_of_month == 12)] *= 2.0
    for year in np.unique(days.astype("datetime64[Y]").astype(int) + 1970):
        new_year = np.datetime64(SPRING_FESTIVAL.get(int(year), f"{int(year)}-02-01"))
        daily[np.abs((days - new_year).astype(int)) <= 7] *= 0.6
    hourly = (daily[:, None] * HOUR_PROFILE[None, :]).ravel()
    hourly /= hourly.mean()
    cumulative = np.concatenate(([0.0], np.cumsum(hourly) / 24.0))
    return _Calendar(hours=np.arange(len(hourly) + 1, dtype=float), activity=hourly, cumulative=cumulative)


def _acquisitions(
    rng: np.random.Generator,
    customers: int,
    channels: tuple[ChannelProfile, ...],
    days: np.ndarray,
    launch: np.ndarray,
    calendar: _Calendar,
) -> tuple[np.ndarray, np.ndarray]:
    """Acquisition times in days since the window start (sorted) and their channels.

    Each channel's sign-ups follow the shopping calendar times 3.5% growth a month from its launch on,
    drawn by inverting the cumulative intensity: one interpolation per channel, none per customer.
    """
    shares = np.array([profile.acquisition_share for profile in channels])
    counts = rng.multinomial(customers, shares / shares.sum())
    growth = np.repeat(1.035 ** (np.arange(len(days)) / 30.4), 24)
    times, channel_index = [], []
    for index, count in enumerate(counts):
        weight = calendar.activity * growth * np.repeat(days >= launch[index], 24)
        cumulative = np.concatenate(([0.0], np.cumsum(weight)))
        draws = rng.uniform(0.0, cumulative[-1], count)
        times.append(np.interp(draws, cumulative, calendar.hours) / 24.0)
        channel_index.append(np.full(count, index, dtype=np.int16))
    acquired = np.concatenate(times)
    channel = np.concatenate(channel_index)
    order = np.argsort(acquired, kind="stable")
    return np.minimum(acquired[order], len(days) - 1e-6), channel[order]


def _customer_parameters(
    rng: np.random.Generator, channels: tuple[ChannelProfile, ...], channel_index: np.ndarray
) -> dict[str, np.ndarray]:
    """The hidden truth per customer: BG/NBD λ and p, Gamma-Gamma ν, wholesale buyers, never-buyers."""
    n = len(channel_index)

    def per_customer(values: list[float]) -> np.ndarray:
        return np.asarray(values, dtype=float)[channel_index]

    rate_alpha = per_customer([profile.purchase_rate_rate for profile in channels])
    dropout_a = per_customer([profile.dropout_beta[0] for profile in channels])
    dropout_b = per_customer([profile.dropout_beta[1] for profile in channels])
    value_gamma = per_customer([profile.order_value_gamma for profile in channels])
    purchase_rate = np.minimum(rng.gamma(PURCHASE_RATE_SHAPE, 1.0 / rate_alpha), MAX_PURCHASE_RATE)
    dropout = np.clip(rng.beta(dropout_a, dropout_b), 1e-4, 1.0)
    nu = rng.gamma(ORDER_VALUE_SCALE_SHAPE, 1.0 / value_gamma)
    wholesale = rng.random(n) < WHOLESALE_SHARE
    spend_multiplier = np.where(wholesale, WHOLESALE_SPEND_MULTIPLIER, 1.0)
    return {
        "purchase_rate": purchase_rate,
        "dropout": dropout,
        "nu": nu,
        "spend_multiplier": spend_multiplier,
        "mean_spend": ORDER_VALUE_SHAPE / nu * spend_multiplier,
        "wholesale": wholesale,
        "never_buys": rng.random(n) < per_customer([profile.never_buy_share for profile in channels]),
        "email_consent_share": per_customer([profile.email_consent_share for profile in channels]),
    }


def _segment_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each segment of a flat array cut into runs of ``counts``."""
    running = np.cumsum(values)
    before = np.concatenate(([0.0], running))[np.cumsum(counts) - counts]
    return running - np.repeat(before, counts)


def _purchases(
    rng: np.random.Generator,
    params: dict[str, np.ndarray],
    acquired_days: np.ndarray,
    calendar: _Calendar,
    n_days: int,
) -> dict[str, np.ndarray]:
    """Every purchase up to the window's end, by BG/NBD on the operational clock (unsorted).

    A buyer's first purchase is often in the session they signed up in, otherwise days later. Repeat
    purchases then come as a Poisson process at rate λ until the window ends or the customer drops out
    after the G-th purchase, G ~ Geometric(p). Given n purchase opportunities in the remaining window, their
    times are sorted uniforms, and the first m = min(G − 1, n) are drawn without the rest as
    U(k) = S(k) / (S(m) + Gamma(n − m + 1)), where S(k) sums k unit exponentials (uniform order statistics
    as normalised exponential spacings): one random number per purchase kept, however many customers.
    """
    n = len(acquired_days)
    acquired_op = calendar.to_operational(acquired_days)
    same_session = rng.random(n) < SAME_SESSION_FIRST_ORDER_SHARE
    delay = np.where(same_session, rng.exponential(20 / 1440, n), rng.exponential(10.0, n))
    first_op = acquired_op + delay
    buyers = np.flatnonzero(~params["never_buys"] & (first_op < calendar.end))

    remaining = calendar.end - first_op[buyers]
    opportunities = rng.poisson(params["purchase_rate"][buyers] * remaining)
    lifetime_repeats = rng.geometric(params["dropout"][buyers]) - 1
    repeats = np.minimum(lifetime_repeats, opportunities)
    spacings = _segment_cumsum(rng.exponential(1.0, int(repeats.sum())), repeats)
    with_repeats = repeats > 0
    normaliser = np.ones(len(buyers))
    normaliser[with_repeats] = spacings[np.cumsum(repeats)[with_repeats] - 1] + rng.gamma(
        (opportunities - repeats + 1)[with_repeats]
    )
    repeat_op = np.repeat(first_op[buyers], repeats) + spacings * np.repeat(remaining / normaliser, repeats)

    customer = np.concatenate((buyers, np.repeat(buyers, repeats))).astype(np.int32)
    operational = np.concatenate((first_op[buyers], repeat_op))
    days = np.clip(calendar.to_wall_clock(operational), acquired_days[customer], n_days - 1e-6)
    first_day = np.full(n, np.nan)
    first_day[buyers] = days[: len(buyers)]
    is_first = np.zeros(len(customer), dtype=bool)
    is_first[: len(buyers)] = True
    return {"customer": customer, "days": days, "is_first": is_first, "first_day": first_day}


def _load_order(days: np.ndarray, customer: np.ndarray, month_of_day: np.ndarray) -> np.ndarray:
    """Row order for orders and events: month by month, and within a month customer by customer.

    Ids and external ids then follow time at the resolution reports use (the month), while PostgreSQL
    fills the customer-leading indexes (``organization, customer, ordered_at`` and the foreign key's)
    in 25 ordered sweeps instead of at random: measured on 4.5 million orders, the load takes half the
    time of a strictly chronological one.
    """
    month = month_of_day[np.floor(days).astype(np.int64)]
    return np.lexsort((days, customer, month))


def _to_timestamps(days: np.ndarray, window_start: np.datetime64) -> np.ndarray:
    return window_start + np.floor(days * SECONDS_PER_DAY).astype(np.int64).astype("timedelta64[s]")


def _orders(
    rng: np.random.Generator,
    params: dict[str, np.ndarray],
    channel_index: np.ndarray,
    purchases: dict[str, np.ndarray],
    month_of_day: np.ndarray,
    window_start: np.datetime64,
) -> OrderRows:
    """Purchases as orders in ``_load_order``: Gamma-Gamma amounts, a few refunds and cancellations, the
    last days' orders still pending, and the acquisition channel on first orders and half the repeats."""
    n_days = len(month_of_day)
    order = _load_order(purchases["days"], purchases["customer"], month_of_day)
    customer = purchases["customer"][order]
    days = purchases["days"][order]
    is_first = purchases["is_first"][order]
    amounts = rng.gamma(ORDER_VALUE_SHAPE, 1.0 / params["nu"][customer]) * params["spend_multiplier"][customer]
    cents = np.clip(np.round(amounts * 100), MIN_ORDER_CENTS, MAX_ORDER_CENTS).astype(np.int64)
    roll = rng.random(len(customer))
    status = np.zeros(len(customer), dtype=np.int8)
    status[roll < 0.04] = ORDER_STATUSES.index("cancelled")
    status[roll < 0.025] = ORDER_STATUSES.index("refunded")
    status[days >= n_days - PENDING_DAYS] = ORDER_STATUSES.index("pending")
    keeps_channel = is_first | (rng.random(len(customer)) < 0.5)
    return OrderRows(
        customer=customer,
        ordered_at=_to_timestamps(days, window_start),
        cents=cents,
        status=status,
        channel=np.where(keeps_channel, channel_index[customer], -1).astype(np.int16),
    )


def _customers(
    rng: np.random.Generator,
    params: dict[str, np.ndarray],
    channel_index: np.ndarray,
    acquired_days: np.ndarray,
    orders: OrderRows,
    window_start: np.datetime64,
) -> CustomerRows:
    """Customer rows: contact details, consent, tags (the top buyers by revenue are VIPs with an owner)."""
    n = len(channel_index)
    revenue = np.bincount(orders.customer, weights=orders.cents, minlength=n)
    buyers = revenue > 0
    vip = np.zeros(n, dtype=bool)
    if buyers.any():
        vip = buyers & (revenue >= np.quantile(revenue[buyers], 1 - VIP_SHARE))
    name, email, phone = _contact_details(rng, n)
    consent_email = (rng.random(n) < params["email_consent_share"]) & (email != "")
    consent_sms = (rng.random(n) < 0.35) & (phone != "")
    newsletter = consent_email & (rng.random(n) < 0.45)
    tag_mask = vip.astype(np.uint8) | (params["wholesale"].astype(np.uint8) << 1) | (newsletter.astype(np.uint8) << 2)
    owner_slot = np.full(n, -1, dtype=np.int8)
    vip_index = np.flatnonzero(vip)
    owner_slot[vip_index] = (np.arange(len(vip_index)) % 2).astype(np.int8)
    city_weights = np.array([weight for _, weight in CITIES], dtype=float)
    return CustomerRows(
        channel=channel_index,
        created_at=_to_timestamps(acquired_days, window_start),
        name=name,
        email=email,
        phone=phone,
        consent_email=consent_email,
        consent_sms=consent_sms,
        tag_mask=tag_mask,
        city=rng.choice(len(CITIES), n, p=city_weights / city_weights.sum()).astype(np.int16),
        owner_slot=owner_slot,
        purchase_rate=params["purchase_rate"],
        dropout=params["dropout"],
        mean_spend=params["mean_spend"],
    )


def _contact_details(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pinyin names (a few English given names, as many Chinese shoppers use), e-mails and phones."""
    surnames = np.array([surname for surname, _ in SURNAMES], dtype=TEXT)
    surname_weights = np.array([weight for _, weight in SURNAMES])
    surname = surnames[rng.choice(len(surnames), n, p=surname_weights / surname_weights.sum())]
    english = rng.random(n) < ENGLISH_NAME_SHARE
    given = np.where(
        english,
        np.array(ENGLISH_GIVEN_NAMES, dtype=TEXT)[rng.integers(0, len(ENGLISH_GIVEN_NAMES), n)],
        np.array(GIVEN_NAMES, dtype=TEXT)[rng.integers(0, len(GIVEN_NAMES), n)],
    )
    # Family name first in pinyin ("Wang Fang"); an English given name goes first ("Kevin Wang").
    name = np.where(
        english,
        np.strings.add(np.strings.add(given, " "), surname),
        np.strings.add(np.strings.add(surname, " "), given),
    )
    number = (np.arange(n) + 1).astype(TEXT)
    local_part = np.strings.add(np.strings.add(np.strings.lower(given), "."), np.strings.lower(surname))
    local_part = np.strings.add(np.strings.add(local_part, "."), number)
    domain = np.array(EMAIL_DOMAINS, dtype=TEXT)[rng.integers(0, len(EMAIL_DOMAINS), n)]
    email = np.strings.add(np.strings.add(local_part, "@"), domain)
    email[rng.random(n) >= 0.92] = ""
    subscriber = rng.integers(0, 100_000_000, n).astype(TEXT)
    phone = np.strings.add(
        np.strings.add("+8612", rng.integers(0, 10, n).astype(TEXT)), np.strings.zfill(subscriber, 8)
    )
    phone[rng.random(n) >= 0.8] = ""
    return name, email, phone


def _events(
    rng: np.random.Generator,
    n_customers: int,
    acquired_days: np.ndarray,
    orders: OrderRows,
    order_days: np.ndarray,
    calendar: _Calendar,
    month_of_day: np.ndarray,
    window_start: np.datetime64,
) -> EventRows:
    """Behaviour around the purchases, at most MAX_EVENTS_PER_CUSTOMER per customer, in ``_load_order``.

    Three sources: the landing visit at sign-up; a product view and an add-to-cart shortly before each of
    a customer's last few orders; and sessions (app opens, logins, views) spread over the customer's active
    life, from sign-up to 45 days after their last order (30 days for those who never bought), more of
    them for customers who buy more.
    """
    page_view, app_open, login, add_to_cart = (EVENT_NAMES.index(name) for name in EVENT_NAMES)
    landing_name = np.where(rng.random(n_customers) < 0.6, page_view, app_open).astype(np.int8)

    by_customer_latest_first = np.lexsort((-order_days, orders.customer))
    sorted_customer = orders.customer[by_customer_latest_first]
    group_start = np.searchsorted(sorted_customer, sorted_customer, side="left")
    rank_from_latest = np.empty(len(orders), dtype=np.int64)
    rank_from_latest[by_customer_latest_first] = np.arange(len(orders)) - group_start
    carted = np.flatnonzero((rank_from_latest < ORDER_LINKED_EVENT_ORDERS) & (rng.random(len(orders)) < 0.7))
    cart_customer = orders.customer[carted]
    cart_days = np.maximum(order_days[carted] - rng.exponential(20 / 1440, len(carted)), acquired_days[cart_customer])
    sku = (rng.zipf(1.6, len(carted)) - 1) % 500
    viewed = rng.random(len(carted)) < 0.5
    view_days = np.maximum(
        cart_days[viewed] - rng.exponential(10 / 1440, int(viewed.sum())), acquired_days[cart_customer[viewed]]
    )

    order_count = np.bincount(orders.customer, minlength=n_customers)
    last_order_day = np.full(n_customers, -np.inf)
    np.maximum.at(last_order_day, orders.customer, order_days)
    start_op = calendar.to_operational(acquired_days)
    stop_op = np.where(
        order_count > 0, calendar.to_operational(np.maximum(last_order_day, 0.0)) + 45.0, start_op + 30.0
    )
    stop_op = np.minimum(stop_op, calendar.end - 1e-9)
    sessions = np.minimum(rng.poisson(1.0 + 0.6 * np.minimum(order_count, 12)), MAX_ENGAGEMENT_EVENTS)
    session_customer = np.repeat(np.arange(n_customers, dtype=np.int32), sessions)
    session_op = start_op[session_customer] + rng.random(len(session_customer)) * (stop_op - start_op)[session_customer]
    session_days = np.maximum(calendar.to_wall_clock(session_op), acquired_days[session_customer])
    session_name = rng.choice([app_open, login, page_view], len(session_customer), p=[0.45, 0.35, 0.2])

    customer = np.concatenate(
        (np.arange(n_customers, dtype=np.int32), cart_customer, cart_customer[viewed], session_customer)
    )
    days = np.concatenate((acquired_days, cart_days, view_days, session_days))
    name = np.concatenate(
        (
            landing_name,
            np.full(len(carted), add_to_cart, dtype=np.int8),
            np.full(len(view_days), page_view, dtype=np.int8),
            session_name.astype(np.int8),
        )
    )
    skus = np.concatenate((np.full(n_customers, -1), sku, sku[viewed], np.full(len(session_customer), -1)))
    order = _load_order(days, customer, month_of_day)
    return EventRows(
        customer=customer[order],
        name=name[order],
        occurred_at=_to_timestamps(days[order], window_start),
        sku=skus[order].astype(np.int32),
    )


def _quality(params: dict[str, np.ndarray]) -> np.ndarray:
    """A standardised score of how much a customer is worth in the long run: log(λ/p × mean spend)."""
    value = np.log(params["purchase_rate"] / params["dropout"] * params["mean_spend"])
    return (value - value.mean()) / (value.std() or 1.0)


def _feedback(
    rng: np.random.Generator,
    params: dict[str, np.ndarray],
    first_day: np.ndarray,
    orders: OrderRows,
    order_days: np.ndarray,
    calendar: _Calendar,
    n_days: int,
    window_start: np.datetime64,
) -> FeedbackRows:
    """NPS from a sample of buyers some days after their first order and CSAT after a sample of orders.

    Scores rise with the customer's hidden quality, so channels that bring loyal customers also bring
    promoters, and comments match the score.
    """
    quality = _quality(params)
    buyers = np.flatnonzero(~np.isnan(first_day))
    asked = buyers[rng.random(len(buyers)) < NPS_SHARE_OF_BUYERS]
    nps_op = calendar.to_operational(first_day[asked]) + rng.exponential(7.0, len(asked))
    answered = nps_op < calendar.end
    nps_customer = asked[answered]
    nps_days = calendar.to_wall_clock(nps_op[answered])
    nps_score = np.clip(np.round(8.0 + 1.6 * quality[nps_customer] + rng.normal(0, 1.8, len(nps_customer))), 0, 10)

    completed = np.flatnonzero(orders.status == ORDER_STATUSES.index("completed"))
    surveyed = completed[rng.random(len(completed)) < CSAT_SHARE_OF_ORDERS]
    csat_days = order_days[surveyed] + rng.exponential(2.0, len(surveyed))
    answered = csat_days < n_days
    csat_customer = orders.customer[surveyed[answered]]
    csat_days = csat_days[answered]
    csat_score = np.clip(np.round(3.9 + 0.6 * quality[csat_customer] + rng.normal(0, 0.8, len(csat_customer))), 1, 5)

    customer = np.concatenate((nps_customer, csat_customer)).astype(np.int32)
    kind = np.concatenate((np.zeros(len(nps_customer)), np.ones(len(csat_customer)))).astype(np.int8)
    score = np.concatenate((nps_score, csat_score)).astype(np.int16)
    scale_max = np.where(kind == 0, 10, 5).astype(np.int16)
    days = np.minimum(np.concatenate((nps_days, csat_days)), n_days - 1e-6)
    # Bands: NPS detractor 0–6 / passive 7–8 / promoter 9–10; CSAT 1–2 / 3 / 4–5.
    band = np.where(kind == 0, (score >= 7).astype(int) + (score >= 9), (score >= 3).astype(int) + (score >= 4))
    vocabulary = [FEEDBACK_COMMENTS[key] for key in ("low", "mid", "high")]
    sizes = np.array([len(words) for words in vocabulary])
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    pick = offsets[band] + np.floor(rng.random(len(band)) * sizes[band]).astype(int)
    comments = np.array([comment for words in vocabulary for comment in words], dtype=TEXT)[pick]
    comments[rng.random(len(band)) >= COMMENT_SHARE] = ""
    order = np.argsort(days, kind="stable")
    return FeedbackRows(
        customer=customer[order],
        kind=kind[order],
        score=score[order],
        scale_max=scale_max[order],
        answered_at=_to_timestamps(days[order], window_start),
        comment=comments[order],
    )


def _notes_and_tasks(
    rng: np.random.Generator,
    customers: CustomerRows,
    acquired_days: np.ndarray,
    order_days: np.ndarray,
    orders: OrderRows,
    n_days: int,
    window_start: np.datetime64,
) -> tuple[NoteRows, TaskRows]:
    """A few notes on VIPs by their owners, and follow-up tasks: open ones for VIPs gone quiet, some done."""
    vip = np.flatnonzero(customers.tag_mask & 1)
    n_customers = len(customers)
    noted = rng.permutation(vip)[: min(len(vip), max(12, n_customers // 200))]
    note_days = acquired_days[noted] + rng.random(len(noted)) * (n_days - acquired_days[noted])
    notes = NoteRows(
        customer=noted.astype(np.int32),
        author_slot=customers.owner_slot[noted],
        body=np.array(NOTE_BODIES, dtype=TEXT)[rng.integers(0, len(NOTE_BODIES), len(noted))],
        created_at=_to_timestamps(np.minimum(note_days, n_days - 1e-6), window_start),
    )

    last_order_day = np.full(n_customers, -np.inf)
    np.maximum.at(last_order_day, orders.customer, order_days)
    quiet = rng.permutation(vip[last_order_day[vip] < n_days - 60])
    active = rng.permutation(np.setdiff1d(vip, quiet))
    # Enough follow-ups that every demo ops user has an inbox worth opening, a few of them overdue.
    count = min(len(vip), max(24, n_customers // 100))
    n_open = min(len(quiet), (count + 1) // 2)
    n_done = min(len(active), count - n_open)
    chosen = np.concatenate((quiet[:n_open], active[:n_done]))
    done = np.arange(len(chosen)) >= n_open  # the open tasks are about VIPs gone quiet
    created_days = np.where(done, n_days - rng.uniform(20, 90, len(chosen)), n_days - rng.uniform(0, 10, len(chosen)))
    created_days = np.maximum(created_days, acquired_days[chosen])
    completed_days = np.minimum(created_days + rng.uniform(1, 10, len(chosen)), n_days - 1e-6)
    due_days = np.floor(np.where(done, completed_days + 1, n_days + rng.integers(-5, 15, len(chosen)))).astype(int)
    first_day = (window_start + np.timedelta64(12, "h")).astype("datetime64[D]")
    titles = np.where(
        done,
        np.array(TASK_TITLES[1:], dtype=TEXT)[rng.integers(0, len(TASK_TITLES) - 1, len(chosen))],
        np.array(TASK_TITLES[:1], dtype=TEXT)[np.zeros(len(chosen), dtype=int)],
    )
    completed_at = _to_timestamps(completed_days, window_start)
    completed_at[~done] = np.datetime64("NaT")
    tasks = TaskRows(
        customer=chosen.astype(np.int32),
        owner_slot=customers.owner_slot[chosen],
        title=titles,
        due_date=first_day + due_days,
        status=done.astype(np.int8),
        created_at=_to_timestamps(created_days, window_start),
        completed_at=completed_at,
    )
    return notes, tasks


def _spend(
    rng: np.random.Generator,
    channels: tuple[ChannelProfile, ...],
    channel_index: np.ndarray,
    acquired_days: np.ndarray,
    days: np.ndarray,
    launch: np.ndarray,
) -> SpendRows:
    """Monthly spend = the channel's CAC × customers it brought that month, with noise and drift.

    Paid channels get dearer over time (``cac_drift_per_year``) and one channel's CAC spikes in the last
    two months (``CAC_SPIKE``), so the channel league table and the risk alerts have something to say.
    """
    months = days.astype("datetime64[M]")
    month_index = (months - months[0]).astype(int)
    n_months = int(month_index[-1]) + 1
    acquired_month = month_index[np.floor(acquired_days).astype(int)]
    counts = np.bincount(channel_index * n_months + acquired_month, minlength=len(channels) * n_months)
    counts = counts.reshape(len(channels), n_months)
    years_before_now = (n_months - 1 - np.arange(n_months)) / 12.0
    cac = np.array([[profile.cac] for profile in channels]) * (
        1 - np.array([[profile.cac_drift_per_year] for profile in channels]) * years_before_now[None, :]
    )
    spike_channel = (
        [profile.code for profile in channels].index(CAC_SPIKE[0])
        if CAC_SPIKE[0] in [profile.code for profile in channels]
        else None
    )
    if spike_channel is not None:
        cac[spike_channel, -2:] *= CAC_SPIKE[1]
    noise = rng.lognormal(0.0, 0.12, counts.shape)
    cents = np.round(cac * counts * noise * 100).astype(np.int64)
    month_start = np.unique(months).astype("datetime64[D]")
    active = month_start[None, :] >= launch.astype("datetime64[M]").astype("datetime64[D]")[:, None]
    channel, month = np.nonzero(active)
    return SpendRows(channel=channel.astype(np.int16), month=month_start[month], cents=cents[channel, month])


def event_properties_json(sku: np.ndarray) -> np.ndarray:
    """The events' ``properties`` as JSON text: the product for carts and product views, else empty."""
    product = np.strings.add(
        np.strings.add('{"sku": "SKU-', np.strings.zfill(np.maximum(sku, 0).astype(TEXT), 5)), '"}'
    )
    return np.where(sku >= 0, product, np.array("{}", dtype=TEXT))


def tags_json(tag_mask: np.ndarray) -> np.ndarray:
    """Each customer's tags as a JSON list, rendered once per combination of CUSTOMER_TAGS."""
    combinations = np.array(
        [
            json.dumps([tag for bit, tag in enumerate(CUSTOMER_TAGS) if mask >> bit & 1])
            for mask in range(1 << len(CUSTOMER_TAGS))
        ],
        dtype=TEXT,
    )
    return combinations[tag_mask]


def attributes_json(city: np.ndarray) -> np.ndarray:
    """Each customer's custom attributes as a JSON object (their city)."""
    rendered = np.array([json.dumps({"city": name}) for name, _ in CITIES], dtype=TEXT)
    return rendered[city]


def sequence_ids(prefix: str, start: int, stop: int, width: int) -> np.ndarray:
    """External ids such as C0000001 for rows ``start`` .. ``stop - 1`` (numbered from 1)."""
    return np.strings.add(prefix, np.strings.zfill((np.arange(start, stop) + 1).astype(TEXT), width))
