"""What each dashboard page shows, as plain data: reads over the rollups (never raw rows,
except the latest comments), all through the one visibility gate.

Views render these; charts (metrics.charts) draw the frames; exports write the tables. A
number on a page is therefore the number the selectors and the metrics API give for the
same scope and period.
"""

from dataclasses import dataclass, replace
from datetime import date

import pandas as pd
from django.db.models import Prefetch, QuerySet

from locations.models import Location, Region, StaffMember
from surveys.models import Answer, SurveyResponse

from . import scores, selectors
from .periods import Period
from .selectors import ScoreQuery

CARD_KINDS = ("nps", "csat", "ces")
COMMENTS_SHOWN = 20
MOVERS_SHOWN = 5


@dataclass(frozen=True)
class Scope:
    """Where a page looks: a whole organization, a region, a store or a staff member."""

    organization_slug: str
    locations: tuple[str, ...] = ()
    region: str | None = None
    staff: str | None = None

    def query(self, period: Period, group_by: str = "location", **kw) -> ScoreQuery:
        return ScoreQuery(
            date_from=period.date_from,
            date_to=period.date_to,
            group_by=group_by,
            locations=self.locations,
            region=self.region,
            staff=self.staff,
            organization=self.organization_slug,
            **kw,
        )


# --- cards --------------------------------------------------------------------------------


def score_cards(user, scope: Scope, period: Period) -> list[dict]:
    """One card per scored question: figures now, before, and whether the change is real."""
    now = selectors.scope_scores(user, scope.query(period))
    before = selectors.scope_scores(user, scope.query(period.previous))
    cards = []
    for question in _ordered(now):
        figures = now[question]
        previous = before.get(question)
        change = scores.compare(figures, previous) if previous else None
        kind = _kind(question, figures)
        cards.append(
            {
                "question": question,
                "kind": kind,
                "label": question.upper() if question in CARD_KINDS else question,
                "figures": figures,
                "previous": previous,
                "change": change,
            }
        )
    return cards


def _kind(question: str, figures: dict) -> str:
    histogram = figures.get("histogram")
    if histogram:
        return {11: "nps", 5: "csat", 7: "ces"}[len(histogram)]
    return question if question in CARD_KINDS else "nps"


def _ordered(questions) -> list[str]:
    """NPS, CSAT and CES first (the survey's main three), then any others by key."""
    return sorted(
        questions,
        key=lambda q: (q not in CARD_KINDS, CARD_KINDS.index(q) if q in CARD_KINDS else 0, q),
    )


# --- frames for charts ----------------------------------------------------------------------


def trend_frame(
    user,
    scope: Scope,
    period: Period,
    question: str,
    by: str | None = None,
    grain: str | None = None,
) -> pd.DataFrame:
    """Score, interval, n and NPS composition per day, week or month (per region with
    by="region"): one row per period (and group) with answers."""
    grain = grain or period.trend_grain
    dimensions = (by, grain) if by else (grain,)
    figures = selectors.figures_by(
        user, scope.query(period, grain, questions=(question,)), dimensions
    )
    rows = []
    for key, questions in figures.items():
        f = questions.get(question)
        if f is None:
            continue
        row = {"period": key[-1], "group": key[0] if by else None, **_flat(f)}
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["period", "group", *FLAT_COLUMNS])
    return frame.sort_values(["group", "period"], na_position="last").reset_index(drop=True)


FLAT_COLUMNS = ["n", "score", "low", "high", "low_sample", "promoters", "passives", "detractors"]


def _flat(figures: dict) -> dict:
    ci = figures.get("ci95") or (None, None)
    return {
        "n": figures["n"],
        "score": figures["score"],
        "low": ci[0],
        "high": ci[1],
        "low_sample": figures.get("low_sample", False),
        "promoters": figures.get("promoters"),
        "passives": figures.get("passives"),
        "detractors": figures.get("detractors"),
    }


def heatmap_frame(user, scope: Scope, period: Period, question: str) -> pd.DataFrame:
    """Score and n per ISO weekday (1 = Monday) × local hour."""
    figures = selectors.figures_by(
        user, scope.query(period, "hour", questions=(question,)), ("weekday", "hour")
    )
    rows = [
        {"weekday": weekday, "hour": hour, **_flat(questions[question])}
        for (weekday, hour), questions in figures.items()
        if question in questions
    ]
    return pd.DataFrame(rows, columns=["weekday", "hour", *FLAT_COLUMNS])


def groups_frame(user, scope: Scope, period: Period, question: str, group_by: str) -> pd.DataFrame:
    """Figures per touchpoint, region or store, for bar charts with intervals."""
    results = selectors.scores_by_group(user, scope.query(period, group_by, questions=(question,)))
    rows = [
        {"group": r["group"][group_by], **_flat(r["questions"][question])}
        for r in results
        if question in r["questions"]
    ]
    return pd.DataFrame(rows, columns=["group", *FLAT_COLUMNS])


# --- tables ----------------------------------------------------------------------------------


def store_ranking(user, scope: Scope, period: Period, question: str) -> list[dict]:
    """Stores ranked by shrunk score, with raw score, interval, n, region, name and the
    change against the previous period."""
    ranked = selectors.ranking(user, scope.query(period, "location"), question)
    # The current figures are the ranking's own; only the previous period is read again.
    before = {
        r["group"]["location"]: r["questions"][question]
        for r in selectors.scores_by_group(
            user, scope.query(period.previous, "location", questions=(question,))
        )
        if question in r["questions"]
    }
    places = {
        loc.code: loc
        for loc in locations_in(user, scope)
        .select_related("region")
        .only("code", "name", "region__name")
    }
    out = []
    for entry in ranked:
        code = entry["group"]["location"]
        place = places.get(code)
        previous = before.get(code)
        out.append(
            {
                **entry,
                "code": code,
                "name": place.name if place else code,
                "region": place.region.name if place and place.region else None,
                "previous": previous,
                "change": scores.compare(entry, previous) if previous else None,
            }
        )
    return out


def staff_table(user, scope: Scope, period: Period, question: str) -> list[dict]:
    """Staff ranked by shrunk score; below the privacy threshold only n is shown."""
    ranked = selectors.ranking(user, scope.query(period, "staff"), question)
    names = dict(
        StaffMember.objects.filter(location__in=locations_in(user, scope)).values_list(
            "code", "display_name"
        )
    )
    return [
        {**e, "code": e["group"]["staff"], "name": names.get(e["group"]["staff"], "")}
        for e in ranked
    ]


def movers(ranking: list[dict]) -> dict[str, list[dict]]:
    """The stores whose score moved most since the previous period, real changes only."""
    real = [e for e in ranking if e["change"] and e["change"]["real"]]
    up = sorted(
        (e for e in real if e["change"]["difference"] > 0), key=lambda e: -e["change"]["difference"]
    )
    down = sorted(
        (e for e in real if e["change"]["difference"] < 0), key=lambda e: e["change"]["difference"]
    )
    return {"up": up[:MOVERS_SHOWN], "down": down[:MOVERS_SHOWN]}


def reasons(user, scope: Scope, period: Period, labels: dict[str, str]) -> list[dict]:
    """Reasons picked, most named by detractors first, with their labels."""
    rows = selectors.reason_counts(user, scope.query(period))
    return [{**row, "label": labels.get(row["choice"], row["choice"])} for row in rows]


def latest_comments(user, scope: Scope, period: Period) -> list[dict]:
    """The newest comments in the period with the scores, language and staff of their
    response (the one read of raw rows on a dashboard: comments are not rolled up)."""
    # Store ids first, newest bucket first: PostgreSQL then walks the (location, local day,
    # hour) index backwards and stops after the few responses it needs, instead of reading
    # every response of the period (30 ms → 4 ms for a store's month at 5 M responses).
    # Within one time zone — a store's page, a staff member's — this is newest first.
    location_ids = list(locations_in(user, scope).values_list("pk", flat=True))
    comments = (
        Answer.objects.filter(
            response__location_id__in=location_ids,
            response__local_day__gte=period.date_from,
            response__local_day__lte=period.date_to,
            kind="text",
        )
        .exclude(text="")
        .select_related("response__location", "response__staff")
        .prefetch_related(
            Prefetch(
                "response__answers",
                queryset=Answer.objects.filter(kind__in=CARD_KINDS).only(
                    "response_id", "question", "score"
                ),
                to_attr="scored",
            )
        )
        .order_by("-response__local_day", "-response__local_hour", "-response__submitted_at")
    )
    if scope.staff:
        comments = comments.filter(response__staff__code=scope.staff)
    out = []
    for answer in comments[:COMMENTS_SHOWN]:
        response: SurveyResponse = answer.response
        out.append(
            {
                "text": answer.text,
                "submitted_at": response.submitted_at,
                "timezone": response.location.timezone,
                "location": response.location.code,
                "language": response.language,
                "staff": response.staff.display_name if response.staff else None,
                "scores": {a.question: a.score for a in response.scored},
            }
        )
    return out


# --- scope helpers ---------------------------------------------------------------------------


def locations_in(user, scope: Scope) -> QuerySet[Location]:
    return selectors.scoped_locations(user, scope.query(Period("custom", date.min, date.min)))


def regions_in(user, scope: Scope) -> list[Region]:
    """Regions with at least one store the user may see, within the scope."""
    return list(
        Region.objects.filter(locations__in=locations_in(user, scope)).distinct().order_by("name")
    )


def for_store(scope: Scope, code: str) -> Scope:
    return replace(scope, locations=(code,), region=None)
