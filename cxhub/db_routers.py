"""Read the rollups from a PostgreSQL read replica, everything else from the primary.

Active when settings define DATABASES["replica"] (from DATABASE_REPLICA_URL) and list
`cxhub.db_routers.ReplicaRouter` in DATABASE_ROUTERS; without the alias every query goes to
"default" as before. docs/scaling.md explains when to add a replica.

What may be read from the replica, and when:

- Only the rollup tiers (ROLLUP_MODELS): they are recomputed from raw rows by the worker,
  never edited by people, and a figure a second old is as good as a fresh one. Those are
  the reads of the dashboards, their score exports and GET /api/v1/metrics/scores/ (all go
  through metrics.selectors). Everything else — accounts, sessions, tokens, memberships,
  stores, responses, cases, DirtyBucket (freshness and the sweep) — is read from the
  primary, so what a person just changed (a case, a setting, a password) is what the next
  page shows.
- Only while serving an HTTP request (between Django's request_started and
  request_finished signals), or inside `replica_reads()`. Celery tasks, beat and
  management commands read the primary: rebuild_rollups, for one, must see every row.
- Never inside a transaction on the primary: a read there belongs to that transaction.
- Never after the same request (or `replica_reads()` block) wrote a rollup through the ORM:
  it reads its own writes from the primary until the request ends.

A rollup query carries its visibility check as a subquery (metrics.selectors filters on
locations.selectors.visible_locations), so that subquery runs on the replica too: a
membership removed a moment ago still counts there until the replica has replayed it.
Writes always go to "default"; migrations run on "default" only.
"""

import contextlib
import contextvars

from django.core.signals import request_finished, request_started
from django.db import DEFAULT_DB_ALIAS, connections

REPLICA_DB_ALIAS = "replica"

# The rollup tiers of metrics.models: safe to read slightly stale. A new metrics model is
# read from the primary until it is added here (tests/test_db_router.py lists them all).
ROLLUP_MODELS = frozenset(
    {
        "metrics.hourlyrollup",
        "metrics.storehourrollup",
        "metrics.dailyrollup",
        "metrics.staffdailyrollup",
        "metrics.monthhourrollup",
        "metrics.weekhourrollup",
        "metrics.choicerollup",
        "metrics.choicedailyrollup",
    }
)

# Per request: contextvars are per thread under gunicorn's sync and gthread workers.
_replica_allowed = contextvars.ContextVar("cxhub_replica_allowed", default=False)
_wrote_rollups = contextvars.ContextVar("cxhub_wrote_rollups", default=False)


def has_replica() -> bool:
    return REPLICA_DB_ALIAS in connections.settings


def reads_rollups_from_replica() -> bool:
    """Whether a rollup read issued here, now, would go to the replica."""
    return (
        _replica_allowed.get()
        and not _wrote_rollups.get()
        and has_replica()
        and not connections[DEFAULT_DB_ALIAS].in_atomic_block
    )


@contextlib.contextmanager
def replica_reads():
    """Let rollup reads in this block use the replica (outside a request: a task that only
    reads figures, such as a digest)."""
    allowed, wrote = _replica_allowed.set(True), _wrote_rollups.set(False)
    try:
        yield
    finally:
        _wrote_rollups.reset(wrote)
        _replica_allowed.reset(allowed)


@contextlib.contextmanager
def primary_reads():
    """Read everything from the primary in this block, even during a request."""
    allowed = _replica_allowed.set(False)
    try:
        yield
    finally:
        _replica_allowed.reset(allowed)


def _request_started(**kwargs):
    _replica_allowed.set(True)
    _wrote_rollups.set(False)


def _request_finished(**kwargs):
    _replica_allowed.set(False)
    _wrote_rollups.set(False)


# dispatch_uid: connected once however often this module is imported.
request_started.connect(_request_started, dispatch_uid="cxhub.db_routers.request_started")
request_finished.connect(_request_finished, dispatch_uid="cxhub.db_routers.request_finished")


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        if model._meta.label_lower in ROLLUP_MODELS and reads_rollups_from_replica():
            return REPLICA_DB_ALIAS
        # Named, not None: Django would otherwise follow an instance hint, and a related
        # object of a row read from the replica would come from the replica too.
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        if model._meta.label_lower in ROLLUP_MODELS:
            _wrote_rollups.set(True)
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # Both aliases are the same database, one of them a little behind.
        same = {DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS}
        if obj1._state.db in same and obj2._state.db in same:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # The replica replays the primary's schema; nothing may migrate it directly.
        if db == REPLICA_DB_ALIAS:
            return False
        return None
