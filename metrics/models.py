"""Rollups: additive histograms of answers, recomputed from raw rows, never incremented.

A bucket is one location's local hour. `HourlyRollup` and `ChoiceRollup` hold its figures
split by touchpoint and staff member; `DailyRollup` adds a location's hours up per day
(without staff) so chain-wide reads over a year touch few rows. `DirtyBucket` lists the
buckets whose raw rows changed since they were last computed.
"""

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


class Scope(models.Model):
    """Where and when a rollup row counts: a location's local hour, per touchpoint and
    staff member (none when the customer named nobody), for one question."""

    organization = models.ForeignKey("locations.Organization", models.CASCADE, related_name="+")
    location = models.ForeignKey("locations.Location", models.CASCADE, related_name="+")
    touchpoint = models.ForeignKey("locations.Touchpoint", models.CASCADE, related_name="+")
    staff = models.ForeignKey(
        "locations.StaffMember", models.CASCADE, null=True, blank=True, related_name="+"
    )
    question = models.SlugField(max_length=60)
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


class DailyRollup(Histogram):
    organization = models.ForeignKey("locations.Organization", models.CASCADE, related_name="+")
    location = models.ForeignKey("locations.Location", models.CASCADE, related_name="+")
    touchpoint = models.ForeignKey("locations.Touchpoint", models.CASCADE, related_name="+")
    question = models.SlugField(max_length=60)
    kind = models.CharField(max_length=8)
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["location", "day", "touchpoint", "question"],
                name="metrics_dailyrollup_one_row",
            ),
        ]
        indexes = [
            # metrics.selectors.scores for organizations, regions, stores and dates:
            # a day range first, then the visible locations.
            models.Index(fields=["day", "location"], name="metrics_daily_day_loc_idx"),
        ]

    def __str__(self):
        return f"{self.question} @ {self.location_id} {self.day}: n={self.n}"


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
