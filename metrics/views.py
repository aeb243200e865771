"""Dashboard pages and exports. Thin: each resolves what the user may see (a 404 for anything
else, never a hint that it exists), reads metrics.dashboards and renders."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import get_language, gettext
from django.views import View

from locations.models import Membership, Region, Role, StaffMember
from locations.selectors import (
    sees_whole_organization,
    sees_whole_region,
    visible_locations,
    visible_organizations,
)
from surveys import cases
from surveys.selectors import choice_labels

from . import charts, dashboards, exports
from .dashboards import Scope
from .periods import PRESETS, QUESTIONS, DashboardFilters, today_in


class DashboardHome(LoginRequiredMixin, View):
    """The widest page this person may see; a list when there are several."""

    def get(self, request):
        entries = entry_points(request.user)
        if len(entries) == 1:
            return redirect(entries[0]["url"])
        return render(request, "dashboard/index.html", {"entries": entries})


def entry_points(user) -> list[dict]:
    entries = []
    for org in visible_organizations(user).order_by("name"):
        if sees_whole_organization(user, org):
            entries.append(
                {"label": org.name, "url": reverse("dashboard:organization", args=[org.slug])}
            )
            continue
        managed = Membership.objects.filter(user=user, organization=org, role=Role.REGIONAL_MANAGER)
        for m in managed.select_related("region").order_by("region__name"):
            entries.append(
                {
                    "label": f"{org.name} · {m.region.name}",
                    "url": reverse("dashboard:region", args=[org.slug, m.region_id]),
                }
            )
        regions = managed.values("region")
        stores = visible_locations(user).filter(organization=org).exclude(region__in=regions)
        for store in stores.order_by("code"):
            entries.append(
                {
                    "label": f"{store.code} · {store.name}",
                    "url": reverse("dashboard:store", args=[org.slug, store.code]),
                }
            )
    return entries


class ScopedView(LoginRequiredMixin, View):
    """Resolves the organization, region, store or staff member in the URL through the
    visibility gate, and the filters in the query string."""

    def resolve(self, request, org, region=None, code=None, staff=None):
        user = request.user
        self.organization = get_object_or_404(visible_organizations(user), slug=org)
        self.region = self.location = self.staff_member = None
        if code is not None:
            self.location = get_object_or_404(
                visible_locations(user).select_related("region"),
                organization=self.organization,
                code=code,
            )
            scope = Scope(org, locations=(code,))
            zone = self.location.timezone
            if staff is not None:
                self.staff_member = get_object_or_404(
                    StaffMember, location=self.location, code=staff
                )
                scope = Scope(org, locations=(code,), staff=staff)
        elif region is not None:
            self.region = get_object_or_404(Region, organization=self.organization, pk=region)
            if not sees_whole_region(user, self.region):
                raise Http404
            scope = Scope(org, region=self.region.name)
            zone = self._zone(visible_locations(user).filter(region=self.region))
        else:
            if not sees_whole_organization(user, self.organization):
                raise Http404
            scope = Scope(org)
            zone = self._zone(visible_locations(user).filter(organization=self.organization))
        self.scope, self.zone = scope, zone
        self.filters = DashboardFilters(request.GET, today=today_in(zone))
        return self.filters.is_valid()

    @staticmethod
    def _zone(locations) -> str:
        # A chain's "today" is its first store's; chains in one country share a zone.
        return locations.order_by("code").values_list("timezone", flat=True).first() or "UTC"

    def breadcrumbs(self) -> list[dict]:
        user, org = self.request.user, self.organization
        q = self.filters.query_string() if self.filters.is_valid() else ""
        crumbs = []
        if sees_whole_organization(user, org):
            crumbs.append(
                {"label": org.name, "url": reverse("dashboard:organization", args=[org.slug])}
            )
        region = self.region or (self.location.region if self.location else None)
        if region is not None and sees_whole_region(user, region):
            crumbs.append(
                {
                    "label": region.name,
                    "url": reverse("dashboard:region", args=[org.slug, region.pk]),
                }
            )
        if self.location is not None:
            crumbs.append(
                {
                    "label": self.location.code,
                    "url": reverse("dashboard:store", args=[org.slug, self.location.code]),
                }
            )
        if self.staff_member is not None:
            crumbs.append({"label": self.staff_member.display_name, "url": ""})
        for crumb in crumbs:
            crumb["url"] = f"{crumb['url']}?{q}" if crumb["url"] else ""
        return crumbs

    def reading(self) -> tuple:
        """Who reads, where, when and which score: what every read on a page takes."""
        return self.request.user, self.scope, self.filters.period, self.filters.metric

    def reasons(self) -> list[dict]:
        labels = choice_labels(self.organization, get_language())
        return dashboards.reasons(self.request.user, self.scope, self.filters.period, labels)

    def bad_filters(self, request):
        return render(request, "dashboard/bad_filters.html", {"form": self.filters}, status=400)

    def base_context(self) -> dict:
        filters = self.filters
        return {
            "organization": self.organization,
            "filters": filters,
            "period": filters.period,
            "previous": filters.period.previous,
            "question": filters.metric,
            "question_label": QUESTIONS[filters.metric],
            "presets": PRESETS,
            "questions": QUESTIONS,
            "crumbs": self.breadcrumbs(),
            "query": filters.query_string(),
            "export_base": self.request.path.rstrip("/") + "/export/",
        }


def panel(name: str, title, figure: dict | None, empty=None) -> dict:
    """One chart on a page: its element id, heading, figure, and what to say without one."""
    return {
        "name": name,
        "element_id": f"fig-{name}",
        "title": title,
        "figure": figure,
        "empty": empty or gettext("No answers in this period yet."),
    }


class OverviewPage(ScopedView):
    """Head office (the organization) or a regional manager (a region): stores and regions
    ranked and compared."""

    def get(self, request, org, region=None):
        if not self.resolve(request, org, region=region):
            return self.bad_filters(request)
        user, scope, period, question = self.reading()
        label = str(QUESTIONS[question])
        ranking = dashboards.store_ranking(user, scope, period, question)
        trend = dashboards.trend_frame(user, scope, period, question)
        panels = [panel("trend", gettext("Trend"), charts.trend(trend, label))]
        regions = []
        if self.region is None:
            by_region = dashboards.groups_frame(user, scope, period, question, "region")
            per_region = dashboards.trend_frame(user, scope, period, question, by="region")
            panels += [
                panel(
                    "regions",
                    gettext("Regions compared"),
                    charts.bars_with_intervals(by_region, label),
                ),
                panel(
                    "region_trends",
                    gettext("Trend per region"),
                    charts.lines_per_group(per_region, label),
                ),
            ]
            regions = dashboards.regions_in(user, scope)
        reasons = self.reasons()[:10]
        panels += [
            panel(
                "volume", gettext("Answers per store"), charts.volume(ranking) if ranking else None
            ),
            panel(
                "reasons",
                gettext("What unhappy customers name"),
                charts.reasons(reasons) if reasons else None,
                gettext("No reasons given in this period."),
            ),
        ]
        context = {
            **self.base_context(),
            "region": self.region,
            "regions": regions,
            "cards": dashboards.score_cards(user, scope, period),
            "ranking": ranking,
            "movers": dashboards.movers(ranking),
            "panels": panels,
        }
        return render(request, "dashboard/overview.html", context)


class StorePage(ScopedView):
    def get(self, request, org, code):
        if not self.resolve(request, org, code=code):
            return self.bad_filters(request)
        user, scope, period, question = self.reading()
        label = str(QUESTIONS[question])
        trend = dashboards.trend_frame(user, scope, period, question)
        heat = dashboards.heatmap_frame(user, scope, period, question)
        touchpoints = dashboards.groups_frame(user, scope, period, question, "touchpoint")
        reasons = self.reasons()
        nps_trend = (
            trend if question == "nps" else dashboards.trend_frame(user, scope, period, "nps")
        )
        has_heat = bool(len(heat))
        panels = [
            panel("trend", gettext("Trend"), charts.trend(trend, label)),
            panel(
                "composition",
                gettext("NPS composition"),
                charts.composition(nps_trend) if len(nps_trend) else None,
                gettext("No NPS answers in this period yet."),
            ),
            panel(
                "heat_score",
                gettext("Score by weekday and hour"),
                charts.heatmap(heat, "score", label) if has_heat else None,
            ),
            panel(
                "heat_volume",
                gettext("Answers by weekday and hour"),
                charts.heatmap(heat, "n", gettext("Answers")) if has_heat else None,
            ),
            panel(
                "reasons",
                gettext("What unhappy customers name"),
                charts.reasons(reasons) if reasons else None,
                gettext("No reasons given in this period."),
            ),
            panel(
                "touchpoints",
                gettext("Touchpoints side by side"),
                charts.bars_with_intervals(touchpoints, label) if len(touchpoints) else None,
            ),
        ]
        context = {
            **self.base_context(),
            "location": self.location,
            "cards": dashboards.score_cards(user, scope, period),
            "staff": dashboards.staff_table(user, scope, period, question),
            "comments": dashboards.latest_comments(user, scope, period),
            "open_cases": cases.open_case_count(user, self.location),
            "panels": panels,
        }
        return render(request, "dashboard/store.html", context)


class StaffPage(ScopedView):
    def get(self, request, org, code, staff):
        if not self.resolve(request, org, code=code, staff=staff):
            return self.bad_filters(request)
        user, scope, period, question = self.reading()
        # One person's answers are few per day: weekly points stay above the privacy
        # threshold far more often than daily ones.
        grain = "month" if period.days > 183 else "week" if period.days > 7 else "day"
        trend = dashboards.trend_frame(user, scope, period, question, grain=grain)
        shown = len(trend) and trend["score"].notna().any()
        context = {
            **self.base_context(),
            "location": self.location,
            "member": self.staff_member,
            "cards": dashboards.score_cards(user, scope, period),
            "comments": dashboards.latest_comments(user, scope, period),
            "panels": [
                panel(
                    "trend",
                    gettext("Trend"),
                    charts.trend(trend, str(QUESTIONS[question])) if shown else None,
                    gettext("Not enough answers to show a trend."),
                )
            ],
        }
        return render(request, "dashboard/staff.html", context)


class CaseTablePage(ScopedView):
    """Head office: service recovery per store — cases opened, still open, overdue, the
    median time to first action and to closing, and the share of resolved cases recovered."""

    def get(self, request, org):
        if not self.resolve(request, org):
            return self.bad_filters(request)
        period = self.filters.period
        rows = cases.cases_by_store(
            request.user, self.organization, period.date_from, period.date_to
        )
        return render(request, "dashboard/cases.html", {**self.base_context(), "rows": rows})


class ExportView(ScopedView):
    """/export/scores.csv|xlsx (the table as shown) and /export/responses.csv|xlsx."""

    def get(self, request, org, table, fmt, region=None, code=None):
        if table not in ("scores", "responses") or fmt not in ("csv", "xlsx"):
            raise Http404
        if not self.resolve(request, org, region=region, code=code):
            return self.bad_filters(request)
        name = "-".join(
            part
            for part in (
                org,
                self.region and str(self.region.pk),
                code,
                table,
                str(self.filters.period.date_from),
                str(self.filters.period.date_to),
            )
            if part
        )
        if table == "scores":
            rows = (dashboards.staff_table if code else dashboards.store_ranking)(
                request.user, self.scope, self.filters.period, self.filters.metric
            )
            frame = exports.scores_frame(rows, by="staff" if code else "location")
            return exports.frame_response(frame, fmt, name)
        return exports.responses_response(request.user, self.scope, self.filters.period, fmt, name)
