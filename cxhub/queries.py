"""SQL the ORM would write, on paths that run for every kiosk request or alert: a
queryset turned into SQL once per process (CompiledQuery), and an insert that skips the
rows the unique constraints refuse in one statement (insert_new).

Compiling a queryset (joins, select_related columns, annotations, ordering) costs the ORM
about a millisecond of CPU for the kiosk-token look-up, on every request, to produce the
same SQL text each time. A CompiledQuery builds its queryset once per database alias with
placeholder values, keeps the SQL and what the ORM needs to turn rows into instances, and
then only executes that SQL with the values of the call. Nothing is cached but the SQL:
every call reads the database, so a revoked token stops working at once.

Rows become instances the way Django's ModelIterable makes them (Model.from_db, the
select_related populators, annotations as attributes, the fields' database converters).
Only plain str and int values are substituted: they reach the database unchanged through
the ORM too, so the parameters sent are the ones the queryset would have sent.
"""

import contextlib
import threading
from collections.abc import Callable

from django.db import connections, router, transaction
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable, get_related_populators


class CompiledQuery:
    """`build(*values)` returns a queryset of model instances; `placeholders` are sample
    values, each distinct and each of the type the call will pass (str or int), that the
    queryset must carry among its SQL parameters unchanged. Calling the CompiledQuery with
    values returns the list of instances the built queryset would give."""

    def __init__(self, build: Callable[..., QuerySet], *placeholders: str | int):
        for value in placeholders:
            if type(value) not in (str, int):
                raise TypeError(f"placeholders must be str or int, not {type(value).__name__}")
        if len(set(placeholders)) != len(placeholders):
            raise ValueError("placeholders must be distinct")
        self._build = build
        self._placeholders = placeholders
        self._plans: dict[str, _Plan] = {}
        self._lock = threading.Lock()
        sample = build(*placeholders)
        # Where the queryset would read, as QuerySet.db decides it (asked on every call: a
        # router may answer differently inside a request).
        self.model, self._using, self._hints = sample.model, sample._db, sample._hints

    def __call__(self, *values: str | int) -> list[Model]:
        if len(values) != len(self._placeholders):
            raise TypeError(f"expected {len(self._placeholders)} values, got {len(values)}")
        for value, placeholder in zip(values, self._placeholders, strict=True):
            if type(value) is not type(placeholder):
                raise TypeError(f"expected {type(placeholder).__name__}, got {type(value)!r}")
        alias = self._using or router.db_for_read(self.model, **self._hints)
        plan = self._plans.get(alias)
        if plan is None:
            with self._lock:
                plan = self._plans.get(alias)
                if plan is None:
                    plan = _Plan(self._build(*self._placeholders), alias, self._placeholders)
                    self._plans[alias] = plan
        return plan.run(values)


class _Plan:
    """One queryset compiled for one database alias."""

    def __init__(self, queryset: QuerySet, alias: str, placeholders: tuple):
        if queryset._iterable_class is not ModelIterable or queryset._known_related_objects:
            raise ValueError("a CompiledQuery builds model instances only")
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()  # also fills select, klass_info, annotation_col_map
        self.alias, self.sql = alias, sql
        # Each parameter: the position of the call's value that replaces it, or a constant.
        where = {(type(p), p): i for i, p in enumerate(placeholders)}
        self.parameters = [(where.get((type(p), p)), p) for p in params]
        if {i for i, _ in self.parameters} - {None} != set(range(len(placeholders))):
            raise ValueError(f"the compiled SQL does not carry every placeholder: {sql}")
        select = compiler.select
        self.col_count = compiler.col_count if compiler.has_extra_select else None
        fields = [column[0] for column in select[0 : compiler.col_count]]
        if compiler.has_composite_fields(fields):
            raise ValueError("a CompiledQuery does not read composite fields")
        self.converters = list(compiler.get_converters(fields).items())
        klass_info = compiler.klass_info
        self.model = klass_info["model"]
        select_fields = klass_info["select_fields"]
        self.start, self.end = select_fields[0], select_fields[-1] + 1
        self.init_list = [column[0].target.attname for column in select[self.start : self.end]]
        self.related_populators = get_related_populators(klass_info, select, alias)
        self.annotations = list(compiler.annotation_col_map.items())

    def run(self, values: tuple) -> list[Model]:
        params = [p if i is None else values[i] for i, p in self.parameters]
        connection = connections[self.alias]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        objects = []
        for row in rows:
            if self.col_count is not None:
                row = row[: self.col_count]
            if self.converters:
                row = list(row)
                for position, (converters, expression) in self.converters:
                    value = row[position]
                    for converter in converters:
                        value = converter(value, expression, connection)
                    row[position] = value
            obj = self.model.from_db(self.alias, self.init_list, row[self.start : self.end])
            for populator in self.related_populators:
                populator.populate(row, obj)
            for name, position in self.annotations:
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects


def insert_new(objs: list[Model], *, key: str) -> list[Model]:
    """INSERT … ON CONFLICT DO NOTHING of these instances (of one model) in one statement:
    the rows the model's unique constraints refuse are skipped, without an error to recover
    from. Returns the instances inserted, saved (their ids set), in the order given; `key`
    names the attribute that tells the instances apart (distinct among them).

    Inside a transaction, the statement gets a savepoint of its own, as Model.save does:
    an error leaves the transaction usable. In autocommit it is its own transaction."""
    if not objs:
        return []
    model = type(objs[0])
    using = router.db_for_write(model)
    connection = connections[using]
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key and not f.generated]
    quote = connection.ops.quote_name
    key_field = next(f for f in fields if f.attname == key)
    one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES {', '.join([one_row] * len(objs))} ON CONFLICT DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}, {quote(key_field.column)}"
    )
    params = [
        field.get_db_prep_save(field.pre_save(obj, True), connection)
        for obj in objs
        for field in fields
    ]
    savepoint = None if connection.get_autocommit() else transaction.atomic(using=using)
    with savepoint or contextlib.nullcontext(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        inserted = {key_field.to_python(k): pk for pk, k in cursor.fetchall()}
    out = []
    for obj in objs:
        if getattr(obj, key) in inserted:
            obj.pk = meta.pk.to_python(inserted[getattr(obj, key)])
            obj._state.adding, obj._state.db = False, using
            out.append(obj)
    return out
