"""Every URL the project serves, how to fill its arguments, and how to send and read a probe."""

import io
import json
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import product
from urllib.parse import unquote_plus, urlencode

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.urls import URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from locations.models import Kiosk, Location, Role
from metrics.selectors import GROUP_BY
from surveys.models import Case, ContactDetails, RuleKind, SurveyResponse
from tests.security.tenancy_world import (
    ATTACKER,
    GHOST,
    MARKER,
    VICTIM,
    Unfillable,
    owned_rows,
    ownership,
)

User = get_user_model()

# Requests come from the internet through the TLS-terminating proxy, as a tenant's do.
FROM_THE_INTERNET = {"secure": True, "HTTP_X_FORWARDED_FOR": "203.0.113.7"}


@dataclass(frozen=True)
class Route:
    pattern: str  # the whole pattern, prefixes included
    name: str  # namespaced URL name, or the view's dotted path when unnamed
    callback: object = field(compare=False, repr=False)

    def __str__(self):
        return self.pattern


def all_routes() -> list[Route]:
    found = []

    def walk(resolver, prefix, namespaces):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                inner = (*namespaces, entry.namespace) if entry.namespace else namespaces
                walk(entry, prefix + str(entry.pattern), inner)
            else:
                name = ":".join((*namespaces, entry.name)) if entry.name else entry.lookup_str
                found.append(Route(prefix + str(entry.pattern), name, entry.callback))

    walk(get_resolver(), "", ())
    return found


ROUTES = all_routes()
ARGUMENT = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^()]*\)")

GHOST_PK = 987_654_321

# Arguments that name something of a tenant's: each is tried as the victim's, as the
# attacker's own, and as one that exists nowhere (whose answer must equal the victim's).
IDENTIFIERS = {"org", "region", "code", "staff", "pk", "id", "object_id", "uidb64", "url"}
# Arguments that name no one's data: every value is tried.
PARAMETERS = {"table", "fmt", "app_label", "token", "content_type_id"}
# Which model an integer id names, where the URL does not say (the admin's do).
ROW_ARGUMENTS = {("cases:detail", "pk"): Case, ("admin:auth_user_password_change", "id"): User}
# Rows the admin's "view on site" is asked about: its answer must not depend on them.
VIEW_ON_SITE_MODELS = (Kiosk, Location, Case, SurveyResponse, ContactDetails)


def arguments(route) -> list[str]:
    return [a or b for a, b in ARGUMENT.findall(route.pattern)]


def model_named(route, name, params=None):
    if name == "object_id" and route.name == "admin:view_on_site":
        if params is None:
            return Kiosk  # any of VIEW_ON_SITE_MODELS: they are all known
        return ContentType.objects.get_for_id(int(params["content_type_id"])).model_class()
    if name == "object_id":
        model_admin = getattr(route.callback, "model_admin", None)
        return model_admin.model if model_admin else None
    return ROW_ARGUMENTS.get((route.name, name))


def unknown_arguments(route) -> list[str]:
    """Arguments of a URL this module cannot fill, without touching the database."""
    unknown = []
    for name in arguments(route):
        if name not in IDENTIFIERS | PARAMETERS:
            unknown.append(name)
        elif name in ("pk", "id", "object_id"):
            model = model_named(route, name)
            if model is None or ownership(model) is None:
                unknown.append(f"{name} (of {model._meta.label if model else 'which model?'})")
    return unknown


def parameter_values(name, world) -> list[str]:
    if name == "table":
        return ["scores", "responses"]  # metrics.views.ExportView
    if name == "fmt":
        return ["csv", "xlsx"]  # metrics.exports
    if name == "app_label":
        return sorted({model._meta.app_label for model in admin.site._registry})
    if name == "token":
        return ["not-the-mailed-token"]  # a reset link's token reaches its owner's inbox only
    if name == "content_type_id":
        return [str(ContentType.objects.get_for_model(m).pk) for m in VIEW_ON_SITE_MODELS]
    raise Unfillable(name)


def identifier(world, route, name, owner, params) -> str:
    if owner == GHOST:
        if name in ("pk", "id", "object_id"):
            model = model_named(route, name, params)
            is_uuid = isinstance(model._meta.pk, models.UUIDField)
            return str(uuid.uuid4()) if is_uuid else str(GHOST_PK)
        return {
            "org": "no-such-chain",
            "region": str(GHOST_PK),
            "code": "NO-SUCH-STORE",
            "staff": "NO-SUCH-STAFF",
            "uidb64": urlsafe_base64_encode(force_bytes(GHOST_PK)),
            "url": f"locations/kiosk/{GHOST_PK}/change",
        }[name]
    tenant = world.tenant(owner)
    if name in ("pk", "id", "object_id"):
        model = model_named(route, name, params)
        if model is None:
            raise Unfillable(f"which model does {name} of {route.name} name?")
        row = owned_rows(model, tenant).first()
        if row is None:
            raise Unfillable(f"the {owner} has no {model._meta.label}: add one to build_tenant")
        return str(row.pk)
    return {
        "org": lambda: tenant.org.slug,
        "region": lambda: str(tenant.region.pk),
        "code": lambda: tenant.store.code,
        "staff": lambda: tenant.staff.code,
        "uidb64": lambda: urlsafe_base64_encode(force_bytes(tenant.head.pk)),
        # The admin's catch-all: a change page without its slash.
        "url": lambda: f"locations/kiosk/{tenant.kiosk.pk}/change",
    }[name]()


def build(route, values: dict) -> str:
    path = "/" + ARGUMENT.sub(lambda m: values[m.group(1) or m.group(2)], route.pattern)
    path = path.replace("^", "").replace("$", "")
    # The URL must lead back to the pattern it was built for, with the same arguments.
    try:
        match = resolve(path)
    except Resolver404:
        match = None
    if (
        match is None
        or match.func != route.callback
        or ({k: str(v) for k, v in match.kwargs.items()} != values)
    ):
        raise Unfillable(f"{path} does not resolve back to {route} with {values}")
    return path


def is_api(route) -> bool:
    return hasattr(route.callback, "cls")  # a Django REST framework view


def methods(route) -> list[str]:
    """GET always, and POST where a view may take it: a function view (the admin's, ours) or
    a class that declares it. An API view is tried with every method it declares: those are
    the operations of the schema."""
    view = getattr(route.callback, "cls", None) or getattr(route.callback, "view_class", None)
    if view is None:
        return ["GET", "POST"]
    declared = [m.upper() for m in ("post", "put", "patch", "delete") if hasattr(view, m)]
    if is_api(route):
        return ["GET", *declared]
    return ["GET", "POST"] if declared else ["GET"]


def queries(route, world) -> list[dict]:
    """Query strings that name the victim's things, for the pages that read them."""
    victim = world.victim
    if route.name == "metrics-scores":
        wide = {
            "from": str(timezone.now().date() - timedelta(days=60)),
            "to": str(timezone.now().date() + timedelta(days=1)),
        }
        filters = [
            {},
            {"location": victim.store.code},
            {"region": victim.region.name},
            {"staff": victim.staff.code},
            {"touchpoint": victim.kiosk.touchpoint.name},
        ]
        # Every grouping and every filter, each at least once.
        return [
            {**wide, "group_by": group_by, **filters[i % len(filters)]}
            for i, group_by in enumerate(GROUP_BY)
        ]
    if route.name == "cases:list":
        return [{}, {"show": "all", "location": victim.store.code}]
    if route.name == "admin:autocomplete":
        return autocomplete_queries()
    model_admin = getattr(route.callback, "model_admin", None)
    if model_admin and route.name.endswith("_changelist"):
        # Searching for the victim's marker within the victim's organization: a list that
        # let either through would show the victim's rows.
        narrowed = {"q": MARKER}
        if any(f.name == "organization" for f in model_admin.model._meta.fields):
            narrowed["organization__id__exact"] = str(victim.org.pk)
        return [{}, narrowed]
    return [{}]


def autocomplete_queries() -> list[dict]:
    """Every relation the admin's autocomplete can be asked about: each lists the rows of a
    model that whoever asks may see."""
    found = []
    for model in admin.site._registry:
        for f in model._meta.fields:
            remote = f.related_model if f.is_relation else None
            if remote in admin.site._registry and admin.site._registry[remote].search_fields:
                found.append(
                    {
                        "app_label": model._meta.app_label,
                        "model_name": model._meta.model_name,
                        "field_name": f.name,
                        "term": "",
                    }
                )
    return found


def form_body(route, world) -> dict:
    """A form naming the victim's rows wherever a form could take one: what a tampered
    admin form or case form would send."""
    v, a = world.victim, world.attacker
    response = SurveyResponse.objects.filter(organization=v.org).first()
    body = {
        "organization": v.org.pk,
        "region": v.region.pk,
        "location": v.store.pk,
        "touchpoint": v.kiosk.touchpoint_id,
        "kiosk": v.kiosk.pk,
        "survey": v.org.default_survey_id,
        "response": response.pk,
        "user": v.head.pk,
        "owner": a.head.pk,
        "name": "HIJACKED",
        "display_name": "HIJACKED",
        "code": "HIJACKED",
        "label": "HIJACKED",
        "slug": "hijacked",
        "url": "https://hijacked.example/",
        "email": "hijacker@attacker.example",
        "role": Role.HEAD_OFFICE,
        "kind": RuleKind.LOW_CES,
        "threshold": "0",
        "window_minutes": "1",
        "timezone": "UTC",
        "languages": '["en"]',
        "questions": json.dumps(v.version.questions),
        "status": "dismissed",
        "reason": "HIJACKED",
        "note": "HIJACKED",
        "text": "HIJACKED",
        "language": "en",
        "digest": "none",
        "is_active": "on",
        "enabled": "on",
        "post": "yes",
        "_save": "Save",
    }
    if route.name.endswith("_import"):
        rows = f"code,name,region,timezone\nHIJACKED-1,HIJACKED,{v.region.name},UTC\n"
        body["file"] = rows.encode()  # sent as an uploaded file (see send)
    return body


def action_bodies(route, world) -> list[dict]:
    """The changelist's actions (delete, revoke, publish, pairing codes…), on the victim's rows."""
    model_admin = route.callback.model_admin
    victim_pks = [
        str(pk)
        for pk in owned_rows(model_admin.model, world.victim).values_list("pk", flat=True)[:20]
    ]
    return [
        {"action": name, "_selected_action": victim_pks, "index": "0", "post": "yes"}
        for _, name, _ in model_admin._get_base_actions()
    ]


def api_body(route, world) -> dict:
    victim = world.victim
    response = {
        "id": str(uuid.uuid4()),
        "submitted_at": timezone.now().isoformat(),
        "staff": victim.staff.code,
        "survey_version": victim.version.pk,
        "answers": {"nps": 3, "comment": "HIJACKED"},
    }
    return {
        "kiosk:response-create": response,
        "kiosk:response-batch": {"responses": [response, victim.bodies[0]]},
        "kiosk:heartbeat": {"queue_length": 3, "app_version": "HIJACKED"},
        "kiosk:pair": {"code": "00000000"},
    }.get(route.name, {})


@dataclass
class Probe:
    method: str
    url: str
    data: dict | None = None
    ghost: str | None = None  # the same request naming ids that exist nowhere
    ghost_values: dict = field(default_factory=dict)  # ghost → victim, to compare redirects

    def __str__(self):
        return f"{self.method} {self.url}"

    @property
    def sent(self) -> str:
        """All the attacker put in the request: echoing it back reveals nothing."""
        return unquote_plus(self.url) + "\n" + (repr(self.data) if self.data else "")


def probes(route, world, *, only_victim=False) -> list[Probe]:
    names = arguments(route)
    unknown = [n for n in names if n not in IDENTIFIERS | PARAMETERS]
    if unknown:
        raise Unfillable(f"{route} takes {unknown}: say here how to fill them")
    param_names = [n for n in names if n in PARAMETERS]
    id_names = [n for n in names if n in IDENTIFIERS]
    owner_sets = (
        [(VICTIM,) * len(id_names)]
        if only_victim
        else list(product((VICTIM, ATTACKER), repeat=len(id_names)))
    )
    found = []
    for param_values in product(*(parameter_values(n, world) for n in param_names)):
        params = dict(zip(param_names, param_values, strict=True))
        for owners in owner_sets:
            values = {**params}
            ghosts = {**params}
            ghost_values = {}
            for name, owner in zip(id_names, owners, strict=True):
                values[name] = identifier(world, route, name, owner, params)
                ghosts[name] = values[name]
                if owner == VICTIM:
                    ghosts[name] = identifier(world, route, name, GHOST, params)
                    ghost_values[ghosts[name]] = values[name]
            url = build(route, values)
            ghost = build(route, ghosts) if ghost_values else None
            for query in [{}] if only_victim else queries(route, world):
                suffix = "?" + urlencode(query, doseq=True) if query else ""
                found.append(
                    Probe(
                        "GET",
                        url + suffix,
                        ghost=None if query else ghost,
                        ghost_values=ghost_values,
                    )
                )
            if only_victim:
                continue
            for method in methods(route)[1:]:
                if is_api(route):
                    found.append(Probe(method, url, api_body(route, world)))
                elif getattr(route.callback, "model_admin", None) and route.name.endswith(
                    "_changelist"
                ):
                    found += [Probe(method, url, body) for body in action_bodies(route, world)]
                else:
                    found.append(Probe(method, url, form_body(route, world)))
    return found


def send(client, probe, as_json=False):
    if probe.method == "GET":
        return client.get(probe.url, **FROM_THE_INTERNET)
    if as_json:
        return client.generic(
            probe.method, probe.url, json.dumps(probe.data), "application/json", **FROM_THE_INTERNET
        )
    if probe.method == "POST":
        data = {
            name: SimpleUploadedFile("rows.csv", value, "text/csv")
            if isinstance(value, bytes)
            else value
            for name, value in probe.data.items()
        }
        return client.post(probe.url, data, **FROM_THE_INTERNET)
    return client.generic(
        probe.method,
        probe.url,
        urlencode({k: v for k, v in probe.data.items() if isinstance(v, str | int)}),
        "application/x-www-form-urlencoded",
        **FROM_THE_INTERNET,
    )


def readable(response) -> str:
    """Headers and body as text; a spreadsheet's cells (an .xlsx is a zip of XML) too."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if body[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(body)) as parts:
            body = b"\n".join(parts.read(name) for name in parts.namelist())
    headers = "\n".join(f"{name}: {unquote_plus(value)}" for name, value in response.items())
    return headers + "\n" + body.decode("utf-8", "replace")


LINK = re.compile(r'/admin/\w+/\w+/[^/"\s?]+/change/|/cases/\d+/|data-case="\d+"|/regions/\d+/')


def revealed(world, text: str, sent: str) -> list[str]:
    """What of the victim's the text shows that the request did not itself name."""
    found = []
    if MARKER.lower() in text.lower():
        found += [s for s in world.secrets if s in text and s not in sent]
    found += [s for s in world.opaque if s and s in text and s not in sent]
    found += [
        link
        for link in set(LINK.findall(text))
        # The admin sends /admin/…/<id>/ on to /admin/…/<id>/change/, whatever the id.
        if link in world.links and link.removesuffix("change/") not in sent
    ]
    return found


class Writes:
    """Counts the SQL statements that may write, whoever runs them (the ORM, raw SQL): a
    request that ran none cannot have changed the victim's data."""

    READS = ("SELECT", "SAVEPOINT", "RELEASE", "ROLLBACK", "SET", "SHOW")

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        if not sql.lstrip().upper().startswith(self.READS):
            self.count += 1
        return execute(sql, params, many, context)


def outcome(response, ghost_values=None) -> tuple:
    location = response.get("Location", "")
    for ghost, real in (ghost_values or {}).items():
        location = location.replace(ghost, real)
    return response.status_code, location
