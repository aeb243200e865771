"""Reads over rollups, shared by the metrics API, dashboards and exports.

Every read starts from locations.selectors.visible_locations(user): the one gate. Scores
are summed histograms turned into figures by metrics.scores, so a figure for a region is
exactly the figure its raw answers would give.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import F, QuerySet, Sum
from django.db.models.functions import (
    ExtractIsoWeekDay,
    ExtractIsoYear,
    ExtractMonth,
    ExtractWeek,
    ExtractYear,
)

from locations.models import Location, Organization
from locations.selectors import visible_locations

from . import rollup_sql, scores
from .models import (
    ChoiceDailyRollup,
    ChoiceRollup,
    DailyRollup,
    HourlyRollup,
    MonthHourRollup,
    StaffDailyRollup,
    StoreHourRollup,
    WeekHourRollup,
)

GROUP_BY = (
    "organization",
    "region",
    "location",
    "touchpoint",
    "staff",
    "day",
    "week",
    "month",
    "hour",
    "weekday",
)
BIN_FIELDS = HourlyRollup.BIN_FIELDS
SCORED_KINDS = tuple(scores.BINS)

# group_by → the annotations it groups on (several for weeks and months).
_GROUP_EXPRESSIONS = {
    "organization": {"g0": F("organization__slug")},
    "region": {"g0": F("location__region__name")},
    "location": {"g0": F("location__code")},
    "touchpoint": {"g0": F("touchpoint__name")},
    "staff": {"g0": F("staff__code")},
    "day": {"g0": F("day")},
    "week": {"g0": ExtractIsoYear("day"), "g1": ExtractWeek("day")},
    "month": {"g0": ExtractYear("day"), "g1": ExtractMonth("day")},
    "hour": {"g0": F("hour")},
    "weekday": {"g0": ExtractIsoWeekDay("day")},
}


def _group_value(group_by: str, row: dict, prefix: str = "g"):
    first, second = row[f"{prefix}0"], row.get(f"{prefix}1")
    if group_by == "week":
        return f"{first}-W{second:02d}"
    if group_by == "month":
        return f"{first}-{second:02d}"
    if group_by == "day":
        return first.isoformat()
    return first


# Groupings a month of hours can answer: nothing finer than a month but the hour of day.
_HOUR_OF_DAY_DIMENSIONS = {"hour", "organization", "region", "location", "touchpoint"}


@dataclass(frozen=True)
class ScoreQuery:
    date_from: date
    date_to: date
    group_by: str = "location"
    locations: tuple[str, ...] = ()
    region: str | None = None
    touchpoint: str | None = None
    staff: str | None = None
    questions: tuple[str, ...] = field(default=())
    # Pages name their organization (a superuser or someone in two chains sees several).
    organization: str | None = None

    @property
    def about_staff(self) -> bool:
        return self.group_by == "staff" or self.staff is not None


def scoped_locations(user, query: ScoreQuery) -> QuerySet[Location]:
    locations = visible_locations(user)
    if query.locations:
        locations = locations.filter(code__in=query.locations)
    if query.region:
        locations = locations.filter(region__name=query.region)
    if query.organization:
        locations = locations.filter(organization__slug=query.organization)
    return locations


def thresholds_for(locations: QuerySet[Location]) -> scores.Thresholds:
    """The organization's thresholds; across several organizations (an installation's
    superuser) the strictest of them."""
    found = list(
        Organization.objects.filter(pk__in=locations.values("organization")).values_list(
            "low_sample_threshold", "privacy_threshold"
        )
    )
    if not found:
        return scores.Thresholds()
    return scores.Thresholds(
        low_sample=max(low for low, _ in found), privacy=max(priv for _, priv in found)
    )


def _rollup_rows(user, query: ScoreQuery, group_exprs: dict, dimensions: tuple[str, ...] = ()):
    """Summed histograms per group and question, from the smallest tiers that can answer:
    a number of rows that does not grow with the number of answers (metrics.models)."""
    locations = scoped_locations(user, query)
    dimensions = dimensions or (query.group_by,)
    by_hour = "hour" in dimensions
    if query.about_staff or "staff" in dimensions:
        parts = [(HourlyRollup if by_hour else StaffDailyRollup, "day", None)]
    elif by_hour and set(dimensions) <= _HOUR_OF_DAY_DIMENSIONS:
        parts = _hour_of_day_parts(query.date_from, query.date_to)
    elif by_hour:
        parts = [(StoreHourRollup, "day", None)]
    else:
        parts = [(DailyRollup, "day", None)]
    merged: dict[tuple, dict] = {}
    for model, day_field, days in parts:
        if days is None:
            within = {f"{day_field}__gte": query.date_from, f"{day_field}__lte": query.date_to}
        else:  # a list, so that each location's rows are an index look-up per value
            within = {f"{day_field}__in": days}
        rows = model.objects.filter(location__in=locations, **within)
        if query.touchpoint:
            rows = rows.filter(touchpoint__name=query.touchpoint)
        if query.staff is not None:
            rows = rows.filter(staff__code=query.staff)
        if query.questions:
            rows = rows.filter(question__in=query.questions)
        rows = (
            rows.values("question", "kind", **group_exprs)
            .annotate(total=Sum("n"), **{f"s{f}": Sum(f) for f in BIN_FIELDS})
            .order_by()
        )
        for row in rows:
            key = tuple(row[name] for name in ("question", "kind", *group_exprs))
            if key in merged:
                into = merged[key]
                for name in ("total", *(f"s{f}" for f in BIN_FIELDS)):
                    into[name] += row[name]
            else:
                merged[key] = row
    return list(merged.values()), locations


def _hour_of_day_parts(date_from: date, date_to: date) -> list[tuple]:
    """Whole calendar months from MonthHourRollup, then whole ISO weeks from WeekHourRollup,
    then the days left (at most six at either end of each stretch) from StoreHourRollup:
    a year of hours reads ~12 + 8 + 12 rows per store, hour and question whatever the volume.
    Each part: (tier, its period column, the periods' first days)."""
    months, stretches = _whole_periods(rollup_sql.MONTH, [(date_from, date_to)])
    weeks, stretches = _whole_periods(rollup_sql.WEEK, stretches)
    days = [
        first + timedelta(days=i)
        for first, last in stretches
        for i in range((last - first).days + 1)
    ]
    parts = [(MonthHourRollup, "month", months), (WeekHourRollup, "week", weeks)]
    parts.append((StoreHourRollup, "day", days))
    return [part for part in parts if part[2]]


def _whole_periods(period, stretches: list[tuple[date, date]]) -> tuple[list, list]:
    """The first days of the whole periods inside some day ranges, and the ranges of days
    left over."""
    whole, left = [], []
    for first, last in stretches:
        starts = [
            start
            for start in period.starts_between(first, last)
            if start >= first and period.end(start) <= last
        ]
        if not starts:
            left.append((first, last))
            continue
        whole += starts
        if first < starts[0]:
            left.append((first, starts[0] - timedelta(days=1)))
        if period.end(starts[-1]) < last:
            left.append((period.end(starts[-1]) + timedelta(days=1), last))
    return whole, left


def scores_by_group(user, query: ScoreQuery) -> list[dict]:
    """The results of GET /api/v1/metrics/scores/: one entry per group with answers, each
    with the figures of every question answered in it (METRICS.md, API.md)."""
    rows, locations = _rollup_rows(user, query, _GROUP_EXPRESSIONS[query.group_by])
    thresholds = thresholds_for(locations)
    grouped: dict = defaultdict(dict)
    for row in rows:
        if not row["total"] or row["kind"] not in SCORED_KINDS:
            continue
        kind = row["kind"]
        histogram = [row[f"s{f}"] for f in BIN_FIELDS[: scores.BINS[kind]]]
        figures = scores.summarize(kind, histogram, thresholds)
        group = _group_value(query.group_by, row)
        one_person = query.about_staff and not (query.group_by == "staff" and group is None)
        if one_person and figures["n"] < thresholds.privacy:
            figures = scores.redact_for_privacy(figures)
        grouped[group][row["question"]] = figures
    return [
        {"group": {query.group_by: group}, "questions": grouped[group]}
        for group in sorted(grouped, key=_sort_key)
    ]


def figures_by(user, query: ScoreQuery, dimensions: tuple[str, ...]) -> dict[tuple, dict]:
    """Figures per combination of groups (region × week, weekday × hour) and question:
    {(value, value): {question: figures}}. Staff groups below the privacy threshold are
    redacted as in scores_by_group."""
    exprs = {
        f"d{i}{name}": expr
        for i, dimension in enumerate(dimensions)
        for name, expr in _GROUP_EXPRESSIONS[dimension].items()
    }
    rows, locations = _rollup_rows(user, query, exprs, dimensions)
    thresholds = thresholds_for(locations)
    out: dict = defaultdict(dict)
    for row in rows:
        if not row["total"] or row["kind"] not in SCORED_KINDS:
            continue
        key = tuple(
            _group_value(
                dimension, {k[len(f"d{i}") :]: v for k, v in row.items() if k.startswith(f"d{i}")}
            )
            for i, dimension in enumerate(dimensions)
        )
        histogram = [row[f"s{f}"] for f in BIN_FIELDS[: scores.BINS[row["kind"]]]]
        figures = scores.summarize(row["kind"], histogram, thresholds)
        named = "staff" in dimensions and key[dimensions.index("staff")] is not None
        if (named or query.staff is not None) and figures["n"] < thresholds.privacy:
            figures = scores.redact_for_privacy(figures)
        out[key][row["question"]] = figures
    return dict(out)


def _sort_key(value):
    # None (no region, no staff member) sorts last; numbers and strings among themselves.
    return (value is None, isinstance(value, str), value if value is not None else 0)


def public_results(results: list[dict]) -> list[dict]:
    """Results without internal fields, for the API."""
    return [
        {
            "group": r["group"],
            "questions": {q: scores.public(f) for q, f in r["questions"].items()},
        }
        for r in results
    ]


# --- comparisons and rankings ------------------------------------------------------------


def scope_scores(user, query: ScoreQuery) -> dict[str, dict]:
    """The figures of every question over the whole scope of `query` (its group_by is
    ignored): e.g. a store, a region or the chain for a period."""
    rows, locations = _rollup_rows(user, query, {})
    thresholds = thresholds_for(locations)
    out = {}
    for row in rows:
        if row["total"] and row["kind"] in SCORED_KINDS:
            histogram = [row[f"s{f}"] for f in BIN_FIELDS[: scores.BINS[row["kind"]]]]
            figures = scores.summarize(row["kind"], histogram, thresholds)
            if query.staff is not None and figures["n"] < thresholds.privacy:
                figures = scores.redact_for_privacy(figures)
            out[row["question"]] = figures
    return out


def compare_scopes(user, a: ScoreQuery, b: ScoreQuery) -> dict[str, dict]:
    """A against B per question (a store against the chain, this month against the last):
    both figures, the difference, z and whether it is a real difference (|z| ≥ 1.96)."""
    first, second = scope_scores(user, a), scope_scores(user, b)
    return {
        question: {
            "a": figures,
            "b": second[question],
            "change": scores.compare(figures, second[question]),
        }
        for question, figures in first.items()
        if question in second
    }


def compare_periods(user, current: ScoreQuery, previous: ScoreQuery) -> list[dict]:
    """Each group and question of `current` beside the same in `previous`, with z and
    whether the change is real (|z| ≥ 1.96)."""
    before = {
        (tuple(r["group"].items()), q): f
        for r in scores_by_group(user, previous)
        for q, f in r["questions"].items()
    }
    out = []
    for result in scores_by_group(user, current):
        for question, figures in result["questions"].items():
            earlier = before.get((tuple(result["group"].items()), question))
            out.append(
                {
                    "group": result["group"],
                    "question": question,
                    "current": figures,
                    "previous": earlier,
                    "change": scores.compare(figures, earlier) if earlier else None,
                }
            )
    return out


def ranking(user, query: ScoreQuery, question: str = "nps") -> list[dict]:
    """Locations (or staff, with group_by="staff") ranked by a Bayesian-shrunk score.

    Each raw score is pulled toward the pooled score of everything ranked, with the weight
    of `prior` answers: shrunk = (n·score + prior·pooled) / (n + prior). A store with six
    answers therefore stays near the chain's mean, while one with six hundred keeps its
    own score. The prior is the organization's low-sample threshold (default 30): the
    sample size below which we already say a score is not to be trusted on its own."""
    query = ScoreQuery(**{**query.__dict__, "questions": (question,)})
    results = scores_by_group(user, query)
    thresholds = thresholds_for(scoped_locations(user, query))
    entries = [
        (r["group"], r["questions"][question])
        for r in results
        # Answers that named nobody are not a staff member to rank.
        if question in r["questions"] and r["group"] != {"staff": None}
    ]
    # Staff below the privacy threshold have no histogram to pool (nor a rank).
    histograms = [f["histogram"] for _, f in entries if f["histogram"] is not None]
    pooled_hist = [sum(bins) for bins in zip(*histograms, strict=True)] if histograms else []
    kind = _kind_of(question, entries)
    pooled = (
        scores.summarize(kind, pooled_hist, thresholds)["score"]
        if kind and sum(pooled_hist)
        else None
    )
    prior = thresholds.low_sample
    ranked = []
    for group, figures in entries:
        shrunk = None
        if figures["score"] is not None and pooled is not None:
            shrunk = (figures["n"] * figures["score"] + prior * pooled) / (figures["n"] + prior)
        ranked.append({"group": group, "question": question, "shrunk_score": shrunk, **figures})
    ranked.sort(key=lambda e: (e["shrunk_score"] is None, -(e["shrunk_score"] or 0)))
    for position, entry in enumerate(ranked, start=1):
        entry["rank"] = position if entry["shrunk_score"] is not None else None
    return ranked


def _kind_of(question: str, entries) -> str | None:
    for _, figures in entries:
        hist = figures.get("histogram")
        if hist is not None:
            return {11: "nps", 5: "csat", 7: "ces"}[len(hist)]
    return None


def reason_counts(user, query: ScoreQuery, question: str = "reason") -> list[dict]:
    """How often each choice was picked, split by the NPS group of the same response,
    most complained-about (by detractors) first. Per staff member from the hourly tier,
    otherwise from the daily one."""
    model = ChoiceRollup if query.staff is not None else ChoiceDailyRollup
    rows = model.objects.filter(
        location__in=scoped_locations(user, query),
        day__gte=query.date_from,
        day__lte=query.date_to,
        question=question,
    )
    if query.touchpoint:
        rows = rows.filter(touchpoint__name=query.touchpoint)
    if query.staff is not None:
        rows = rows.filter(staff__code=query.staff)
    rows = (
        rows.values("choice")
        .annotate(
            promoters=Sum("promoters"),
            passives=Sum("passives"),
            detractors=Sum("detractors"),
            unrated=Sum("unrated"),
        )
        .order_by()
    )
    out = [
        {**row, "total": row["promoters"] + row["passives"] + row["detractors"] + row["unrated"]}
        for row in rows
    ]
    return sorted(out, key=lambda r: (-r["detractors"], -r["total"], r["choice"]))
