"""The period a dashboard shows, from the filters in its URL, and the one before it.

Presets are relative to "today" where the store is (its time zone), so a manager in
Bangkok looking at "today" at 00:30 sees the new day, not yesterday in UTC.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

PRESETS = {
    "today": _("Today"),
    "7d": _("Last 7 days"),
    "30d": _("Last 30 days"),
    "month": _("This month"),
    "quarter": _("This quarter"),
    "custom": _("Custom"),
}
QUESTIONS = {"nps": _("NPS"), "csat": _("CSAT"), "ces": _("CES")}
LONGEST_RANGE_DAYS = 3 * 366


@dataclass(frozen=True)
class Period:
    preset: str
    date_from: date
    date_to: date

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    @property
    def previous(self) -> "Period":
        """The same number of days just before."""
        last = self.date_from - timedelta(days=1)
        return Period(self.preset, last - timedelta(days=self.days - 1), last)

    @property
    def trend_grain(self) -> str:
        """Days for a month, weeks up to half a year, months beyond."""
        if self.days <= 31:
            return "day"
        if self.days <= 183:
            return "week"
        return "month"


def today_in(zone: str, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(ZoneInfo(zone)).date()


def preset_period(preset: str, today: date) -> Period:
    if preset == "today":
        return Period(preset, today, today)
    if preset == "7d":
        return Period(preset, today - timedelta(days=6), today)
    if preset == "month":
        return Period(preset, today.replace(day=1), today)
    if preset == "quarter":
        first_month = 3 * ((today.month - 1) // 3) + 1
        return Period(preset, today.replace(month=first_month, day=1), today)
    return Period("30d", today - timedelta(days=29), today)


class DashboardFilters(forms.Form):
    """The filters every dashboard page, chart and export takes from its query string."""

    range = forms.ChoiceField(choices=list(PRESETS.items()), required=False, label=_("Period"))
    date_from = forms.DateField(required=False, label=_("From"))
    date_to = forms.DateField(required=False, label=_("To"))
    question = forms.ChoiceField(choices=list(QUESTIONS.items()), required=False, label=_("Score"))

    def __init__(self, data, *, today: date):
        # The URL spells them from/to; the form fields cannot be named `from`.
        data = {
            "range": data.get("range", ""),
            "date_from": data.get("from", ""),
            "date_to": data.get("to", ""),
            "question": data.get("question", ""),
        }
        super().__init__(data)
        self.today = today

    def clean(self):
        cleaned = super().clean()
        preset = cleaned.get("range") or ("custom" if cleaned.get("date_from") else "30d")
        cleaned["range"] = preset
        cleaned["question"] = cleaned.get("question") or "nps"
        if preset != "custom":
            return cleaned
        first, last = cleaned.get("date_from"), cleaned.get("date_to") or self.today
        if first is None:
            if "date_from" not in self.errors:
                self.add_error("date_from", _("A custom period needs a first day."))
            return cleaned
        if last < first:
            self.add_error("date_to", _("The last day is before the first."))
        elif (last - first).days >= LONGEST_RANGE_DAYS:
            self.add_error("date_to", _("A period can span at most three years."))
        cleaned["date_to"] = last
        return cleaned

    @property
    def period(self) -> Period:
        data = self.cleaned_data
        if data["range"] == "custom":
            return Period("custom", data["date_from"], data["date_to"])
        return preset_period(data["range"], self.today)

    @property
    def metric(self) -> str:
        """The question the charts and rankings follow."""
        return self.cleaned_data["question"]

    def query_string(self, **changes) -> str:
        """These filters as a URL query (for links that keep them), with some changed."""
        from urllib.parse import urlencode

        period = self.period
        params = {"range": period.preset, "question": self.metric}
        if period.preset == "custom":
            params |= {"from": period.date_from.isoformat(), "to": period.date_to.isoformat()}
        params |= changes
        return urlencode({k: v for k, v in params.items() if v is not None})
