"""Rollups: additive histograms of answers, recomputed from raw rows, never incremented.

A bucket is one location's local hour. `HourlyRollup` and `ChoiceRollup` hold its figures
split by touchpoint and staff member: the finest tier, computed from raw answers. Coarser
tiers are sums of it, kept so that every read touches a number of rows that does not grow
with the number of answers:

- `StoreHourRollup`: a location's hour without staff (hour × weekday heatmaps, the edges of
  hour-of-day reads);
- `DailyRollup`: a location's day without staff (chain-wide reads over a year);
- `StaffDailyRollup`: a location's day per staff member (staff tables and rankings);
- `MonthHourRollup` and `WeekHourRollup`: a location's hour of day over a calendar month
  and over an ISO week (hour-of-day reads over long periods, for a region or the chain:
  whole months, then whole weeks, then at most six days at either end);
- `ChoiceDailyRollup`: a location's day of choice counts (reasons across the chain).

`DirtyBucket` lists the buckets whose raw rows changed since they were last computed.

The foreign keys and question columns carry no index of their own (db_index=False): no
read looks rows up by them alone, the composite unique and (location, day) indexes serve
every read, and each extra index roughly doubles the cost of writing rollups.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Histogram(models.Model):
    """Answer counts per score: bin i counts the score (scale low + i). NPS uses all 11 bins,
    CSAT the first 5 (scores 1–5), CES the first 7 (scores 1–7)."""

    n = models.PositiveIntegerField(default=0)
    b0 = models.PositiveIntegerField(default=0)
    b1 = models.PositiveIntegerField(default=0)
    b2 = models.PositiveIntegerField(default=0)
    b3 = models.PositiveIntegerField(default=0)
    b4 = models.PositiveIntegerField(default=0)
    b5 = models.PositiveIntegerField(default=0)
    b6 = models.PositiveIntegerField(default=0)
    b7 = models.PositiveIntegerField(default=0)
    b8 = models.PositiveIntegerField(default=0)
    b9 = models.PositiveIntegerField(default=0)
    b10 = models.PositiveIntegerField(default=0)

    BIN_FIELDS = tuple(f"b{i}" for i in range(11))

    class Meta:
        abstract = True


class Place(models.Model):
    """Whose figures a rollup row holds: a location's touchpoint, for one question."""

    organization = models.ForeignKey(
        "locations.Organization", models.CASCADE, related_name="+", db_index=False
    )
    location = models.ForeignKey(
        "locations.Location", models.CASCADE, related_name="+", db_index=False
    )
    touchpoint = models.ForeignKey(
        "locations.Touchpoint", models.CASCADE, related_name="+", db_index=False
    )
    question = models.SlugField(max_length=60, db_index=False)

    class Meta:
        abstract = True


class Scope(Place):
    """Where and when a rollup row counts: a location's local hour, per touchpoint and
    staff member (none when the customer named nobody), for one question."""

    staff = models.ForeignKey(
        "locations.StaffMember",
        models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    day = models.DateField()
    hour = models.PositiveSmallIntegerField()

    class Meta:
        abstract = True


class HourlyRollup(Scope, Histogram):
    kind = models.CharField(max_length=8)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["location", "day", "hour", "touchpoint", "staff", "question"],
                condition=Q(staff__isnull=False),
                name="metrics_hourlyrollup_one_row_per_staff",
            ),
            models.UniqueConstraint(
                fields=["location", "day", "hour", "touchpoint", "question"],
                condition=Q(staff__isnull=True),
                name="metrics_hourlyrollup_one_row_without_staff",
            ),
            models.CheckConstraint(
                name="metrics_hourlyrollup_hour_of_day", condition=Q(hour__lte=23)
            ),
        ]
        indexes = [
            # metrics.selectors.scores over staff, hours and weekdays: locations × day range.
            models.Index(fields=["location", "day"], name="metrics_hourly_loc_day_idx"),
        ]

    def __str__(self):
        return f"{self.question} @ {self.location_id} {self.day} {self.hour}h: n={self.n}"


class StoreScope(Place):
    """A location's figures without staff: what the coarser tiers are summed over."""

    kind = models.CharField(max_length=8)

    class Meta:
        abstract = True


# What reads sum, carried in the unique index of the tiers that reads sum over many rows:
# PostgreSQL then answers from the index alone (an index-only scan), in index order, however
# refreshes and rebuilds left the rows on disk (docs/benchmarks.md: a region's quarter by
# hour at 5 M, 58 → 19 ms). SQLite (the demo) makes no covering indexes and so skips these
# constraints (models.W039, silenced in settings): nothing relies on them there, as rollups
# are only ever replaced, delete then insert, in one transaction.
SUMMED = ["kind", "n", *Histogram.BIN_FIELDS]


class StoreHourRollup(StoreScope, Histogram):
    day = models.DateField()
    hour = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["location", "day", "hour", "touchpoint", "question"],
                name="metrics_storehourrollup_one_row",
                include=SUMMED,
            ),
        ]

    def __str__(self):
        return f"{self.question} @ {self.location_id} {self.day} {self.hour}h: n={self.n}"


class DailyRollup(StoreScope, Histogram):
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["location", "day", "touchpoint", "question"],
                name="metrics_dailyrollup_one_row",
                include=SUMMED,
            ),
        ]
        indexes = [
            # metrics.selectors.scores for organizations, regions, stores and dates:
            # a day range first, then the visible locations.
            models.Index(fields=["day", "location"], name="metrics_daily_day_loc_idx"),
        ]

    def __str__(self):
        return f"{self.question} @ {self.location_id} {self.day}: n={self.n}"


class StaffDailyRollup(StoreScope, Histogram):
    """A location's day per staff member (none when the customer named nobody)."""

    staff = models.ForeignKey(
        "locations.StaffMember",
        models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["location", "day", "staff", "touchpoint", "question"],
                condition=Q(staff__isnull=False),
                name="metrics_staffdailyrollup_one_row_per_staff",
            ),
            models.UniqueConstraint(
                fields=["location", "day", "touchpoint", "question"],
                condition=Q(staff__isnull=True),
                name="metrics_staffdailyrollup_one_row_without_staff",
            ),
        ]
        indexes = [
            # metrics.selectors.scores about staff: locations × day range.
            models.Index(fields=["location", "day"], name="metrics_staffday_loc_day_idx"),
        ]

    def __str__(self):
        return f"{self.question} @ {self.location_id}/{self.staff_id} {self.day}: n={self.n}"


class MonthHourRollup(StoreScope, Histogram):
    """A location's hour of day summed over a calendar month (`month` is its first day)."""

    month = models.DateField()
    hour = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["location", "month", "hour", "touchpoint", "question"],
                name="metrics_monthhourrollup_one_row",
                include=SUMMED,
            ),
        ]

    def __str__(self):
        return f"{self.question} @ {self.location_id} {self.month:%Y-%m} {self.hour}h: n={self.n}"


class WeekHourRollup(StoreScope, Histogram):
    """A location's hour of day summed over an ISO week (`week` is its Monday)."""

    week = models.DateField()
    hour = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["location", "week", "hour", "touchpoint", "question"],
                name="metrics_weekhourrollup_one_row",
                include=SUMMED,
            ),
        ]

    def __str__(self):
        return f"{self.question} @ {self.location_id} week of {self.week} {self.hour}h: n={self.n}"


class ChoiceRollup(Scope):
    """How often each choice was picked in a bucket, split by the NPS group of the same
    response, so "what do unhappy customers complain about" is one read."""

    choice = models.SlugField(max_length=60)
    promoters = models.PositiveIntegerField(default=0)
    passives = models.PositiveIntegerField(default=0)
    detractors = models.PositiveIntegerField(default=0)
    unrated = models.PositiveIntegerField(default=0, help_text="Responses without an NPS answer.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["location", "day", "hour", "touchpoint", "staff", "question", "choice"],
                condition=Q(staff__isnull=False),
                name="metrics_choicerollup_one_row_per_staff",
            ),
            models.UniqueConstraint(
                fields=["location", "day", "hour", "touchpoint", "question", "choice"],
                condition=Q(staff__isnull=True),
                name="metrics_choicerollup_one_row_without_staff",
            ),
        ]
        indexes = [
            # metrics.selectors.reasons: locations × day range.
            models.Index(fields=["location", "day"], name="metrics_choice_loc_day_idx"),
        ]

    def __str__(self):
        return f"{self.question}={self.choice} @ {self.location_id} {self.day} {self.hour}h"


class ChoiceDailyRollup(Place):
    """ChoiceRollup summed over a location's day, without staff or hour: the chain's reasons
    over a month read a few rows per store and day, whatever the volume."""

    choice = models.SlugField(max_length=60, db_index=False)
    day = models.DateField()
    promoters = models.PositiveIntegerField(default=0)
    passives = models.PositiveIntegerField(default=0)
    detractors = models.PositiveIntegerField(default=0)
    unrated = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["location", "day", "touchpoint", "question", "choice"],
                name="metrics_choicedailyrollup_one_row",
            )
        ]

    def __str__(self):
        return f"{self.question}={self.choice} @ {self.location_id} {self.day}"


class DirtyBucket(models.Model):
    """A location's local hour whose raw responses changed after its rollups were computed.

    `generation` goes up with every mark, so a refresh removes the mark only if nothing
    marked it again while it was computing."""

    location = models.ForeignKey("locations.Location", models.CASCADE, related_name="+")
    day = models.DateField()
    hour = models.PositiveSmallIntegerField()
    generation = models.PositiveIntegerField(default=1)
    marked_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["location", "day", "hour"], name="metrics_dirtybucket_unique_bucket"
            )
        ]
        indexes = [
            # metrics.services.sweep_dirty_buckets: the oldest marks first.
            models.Index(fields=["marked_at"], name="metrics_dirty_marked_idx"),
        ]

    def __str__(self):
        return f"dirty {self.location_id} {self.day} {self.hour}h (generation {self.generation})"


class DigestSent(models.Model):
    """A digest that went out, so that a retried or doubled beat run sends nobody the same
    digest twice."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="+")
    frequency = models.CharField(max_length=8)
    # The UTC day of the run: beat sends each frequency once a day at most.
    run_on = models.DateField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "frequency", "run_on"], name="metrics_digest_once_per_run"
            )
        ]

    def __str__(self):
        return f"{self.frequency} digest to {self.user_id} on {self.run_on}"
