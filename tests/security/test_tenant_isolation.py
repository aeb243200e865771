"""Tenant isolation, tried the way an attacker would: every URL the project serves and every
operation of its API, requested by each kind of user of another organization — its head
office (who may use the admin), a regional manager, a store manager, a personal API token and
a kiosk token — with the victim organization's real identifiers.

Nothing that belongs to the victim may come back, nothing of the victim's may change, and an
id that exists in the victim's organization must be answered exactly as an id that exists
nowhere: otherwise ids could be walked to learn what another tenant has.

The URLs are not listed by hand. They are read from the URL resolver and their arguments are
filled by name; a new URL whose arguments this module cannot fill fails the suite until
someone says here how to fill it, so no URL goes untried.

Every string of the victim's data carries the marker VICTIM, so any of it showing up in an
answer is found without knowing in advance where it might leak from.
"""

import io
import json
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import product
from urllib.parse import unquote_plus, urlencode

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, models, transaction
from django.db.models import Q
from django.test import Client
from django.test.client import ClientHandler
from django.urls import URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from cxhub.celery import app as celery_app
from locations import services as location_services
from locations.models import Kiosk, Location, Organization, Region, Role, Touchpoint
from metrics import services as metrics_services
from metrics.selectors import GROUP_BY
from surveys import cases, recovery
from surveys.demo import add_contact_question
from surveys.models import (
    Alert,
    AlertRule,
    Case,
    ContactDetails,
    RuleKind,
    SurveyResponse,
    WebhookDelivery,
    WebhookEndpoint,
)
from surveys.services import Status, create_default_survey, record_response
from tests.factories import LocationFactory, StaffMemberFactory

User = get_user_model()

MARKER = "VICTIM"
# Requests come from the internet through the TLS-terminating proxy, as a tenant's do.
FROM_THE_INTERNET = {"secure": True, "HTTP_X_FORWARDED_FOR": "203.0.113.7"}

ATTACKERS = ("head_office", "regional_manager", "store_manager", "personal_token", "kiosk_token")

# Whatever the attacker is answered, it is one of these, and it carries nothing of the
# victim's: a page of their own (200), a refusal (401, 403, 404, 405), a redirect (to sign
# in, to the admin's "does not exist", to the same URL with a slash), or a refused form (400).
ANSWERS = {200, 301, 302, 400, 401, 403, 404, 405}


# --- the world: two organizations, built with the services ------------------------------------


@dataclass
class Tenant:
    marker: str
    org: Organization
    region: Region
    store: Location
    staff: object
    kiosk: Kiosk
    kiosk_token: str
    version: object
    people: dict
    api_token: str
    bodies: list = field(default_factory=list)
    sessions: dict = field(default_factory=dict)

    @property
    def head(self):
        return self.people["head_office"]


def build_tenant(marker: str, phone: str) -> Tenant:
    low = marker.lower()
    org = location_services.create_organization(name=f"{marker} Coffee Chain", slug=f"{low}-chain")
    version = add_contact_question(org)
    org = Organization.objects.get(pk=org.pk)  # with the survey's new current version
    region = Region.objects.create(organization=org, name=f"{marker} North")
    south = Region.objects.create(organization=org, name=f"{marker} South")
    store = LocationFactory(
        organization=org, region=region, code=f"{marker}-HN-01", name=f"{marker} store Hoan Kiem"
    )
    other = LocationFactory(
        organization=org, region=south, code=f"{marker}-HCM-01", name=f"{marker} store Ben Thanh"
    )
    staff = StaffMemberFactory(
        location=store, code=f"{marker}-NV-7", display_name=f"{marker} barista Lan"
    )
    issued = location_services.create_kiosk(
        location=store, touchpoint="checkout", name=f"{marker} kiosk at the till"
    )
    Touchpoint.objects.filter(pk=issued.kiosk.touchpoint_id).update(label=f"{marker} checkout")
    door = location_services.create_kiosk(location=other, name=f"{marker} kiosk by the door")

    def invite(role, **scope):
        return location_services.invite_user(
            email=f"{low}.{role}@{low}-chain.example", organization=org, role=role, **scope
        ).user

    people = {
        "head_office": invite(Role.HEAD_OFFICE),
        "regional_manager": invite(Role.REGIONAL_MANAGER, region=region.name),
        "store_manager": invite(Role.STORE_MANAGER, location=store.code),
    }
    tenant = Tenant(
        marker=marker,
        org=org,
        region=region,
        store=store,
        staff=staff,
        kiosk=issued.kiosk,
        kiosk_token=issued.token,
        version=version,
        people=people,
        api_token=location_services.create_api_token(
            user=people["head_office"], name=f"{marker} BI export"
        ),
    )

    # Within the last hours, so the rules fire, cases open and every page shows them.
    now = timezone.now()
    answer_sets = [
        (issued.kiosk, {"nps": 10, "csat": 5, "ces": 7, "comment": f"{marker} comment: lovely"}),
        (
            issued.kiosk,
            {
                "nps": 1,
                "csat": 1,
                "ces": 2,
                "reason": ["wait_time"],
                "comment": f"{marker} comment: waited forty minutes",
                "contact": {
                    "consent": True,
                    "name": f"{marker} customer Minh",
                    "email": f"{low}.customer@mail.example",
                    "phone": phone,
                },
            },
        ),
        (door.kiosk, {"nps": 3, "csat": 2, "ces": 3, "comment": f"{marker} comment: cold"}),
    ]
    for minutes, (kiosk, answers) in enumerate(answer_sets):
        body = {
            "id": str(uuid.uuid4()),
            "submitted_at": (now - timedelta(hours=1, minutes=minutes)).isoformat(),
            "language": "en",
            "staff": staff.code if kiosk == issued.kiosk else None,
            "answers": answers,
        }
        outcome = record_response(kiosk=kiosk, body=body)
        assert outcome.status == Status.CREATED, outcome.errors
        tenant.bodies.append(body)
    recovery.check_responses([body["id"] for body in tenant.bodies])

    case = Case.objects.filter(organization=org, location=store).order_by("pk").first()
    cases.act(
        case,
        tenant.head,
        owner=people["store_manager"],
        note=f"{marker} note: called the customer back",
    )
    AlertRule.objects.create(organization=org, location=store, kind=RuleKind.LOW_CSAT, threshold=3)
    endpoint = WebhookEndpoint.objects.create(
        organization=org, url=f"https://hooks.{low}-chain.example/cx"
    )
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        alert=Alert.objects.filter(organization=org).first(),
        attempts=1,
        last_status=500,
        last_error=f"{marker} hook answered 500",
    )
    location_services.create_pairing_code(location=store, user=tenant.head)
    create_default_survey(organization=org, name=f"{marker} summer survey")
    location_services.save_language(user=tenant.head, language="vi")
    Group.objects.create(name=f"{marker} auditors")
    if apps.is_installed("axes"):
        # Sign-in failures name the person and where they signed in from.
        for model_name in ("AccessAttempt", "AccessLog", "AccessFailureLog"):
            model = apps.get_model("axes", model_name)
            extra = (
                {"get_data": "", "post_data": "", "failures_since_start": 1}
                if model_name == "AccessAttempt"
                else {}
            )
            model.objects.create(
                username=tenant.head.username,
                ip_address="198.51.100.7",
                user_agent=f"{marker} browser",
                http_accept="*/*",
                path_info="/accounts/login/",
                **extra,
            )
    return tenant


# How to find a tenant's rows of each model: by its `organization`, `location` or
# `response`, or as named here. A model the admin shows that none of these fits fails
# the suite (see owned_rows) until this says whose its rows are.
OWNERSHIP = {
    "locations.Organization": lambda t: Q(pk=t.org.pk),
    "surveys.SurveyVersion": lambda t: Q(survey__organization=t.org),
    "surveys.CaseNote": lambda t: Q(case__organization=t.org),
    "surveys.WebhookDelivery": lambda t: Q(endpoint__organization=t.org),
    "locations.ApiToken": lambda t: Q(user__in=list(t.people.values())),
    "locations.UserPreference": lambda t: Q(user__in=list(t.people.values())),
    "auth.User": lambda t: Q(pk__in=[u.pk for u in t.people.values()]),
    "auth.Group": lambda t: Q(name__startswith=t.marker),
    "axes.AccessAttempt": lambda t: Q(username__in=[u.username for u in t.people.values()]),
    "axes.AccessLog": lambda t: Q(username__in=[u.username for u in t.people.values()]),
    "axes.AccessFailureLog": lambda t: Q(username__in=[u.username for u in t.people.values()]),
    "auditlog.LogEntry": lambda t: Q(additional_data__organization_id=t.org.pk),
}


def ownership(model):
    if model._meta.label in OWNERSHIP:
        return OWNERSHIP[model._meta.label]
    names = {f.name for f in model._meta.fields}
    for path in ("organization", "location", "response"):
        if path in names:
            return lambda t, path=path: Q(
                **{f"{path}__organization" if path != "organization" else path: t.org}
            )
    return None


def owned_rows(model, tenant):
    rule = ownership(model)
    if rule is None:
        raise Unfillable(
            f"whose rows of {model._meta.label} are these? Add it to OWNERSHIP so its URLs "
            "are tried with the victim's rows."
        )
    return model._default_manager.filter(rule(tenant)).order_by("pk")


def snapshot(tenant) -> dict:
    """Every row of the tenant's, field by field: what no request of another may change."""
    rows = {}
    for model in apps.get_models():
        if ownership(model) is not None:
            rows[model._meta.label] = list(owned_rows(model, tenant).values())
    return rows


@dataclass
class World:
    victim: Tenant
    attacker: Tenant
    baseline: dict
    secrets: list[str]  # the victim's strings that carry the marker
    opaque: list[str]  # the victim's strings that cannot carry it: ids, tokens, a phone
    links: set[str]  # links to the victim's rows and pages
    # One server for every client, as in production: loading the middleware for each new
    # test client (WhiteNoise reads every static file's headers) would double the run. No
    # CSRF check: the attacker has a token of their own, and the requests must reach the views.
    handler: ClientHandler = field(default_factory=lambda: ClientHandler(enforce_csrf_checks=False))
    tried: dict = field(default_factory=dict)  # route → its probes, the same for everyone

    def tenant(self, owner):
        return self.victim if owner == VICTIM else self.attacker


def the_victim_s_strings(tenant) -> list[str]:
    found = set()
    for model in apps.get_models():
        if ownership(model) is None:
            continue
        text_fields = [
            f.attname
            for f in model._meta.fields
            if isinstance(f, models.CharField | models.TextField)
        ]
        if not text_fields:
            continue
        for row in owned_rows(model, tenant).values_list(*text_fields):
            found.update(v for v in row if isinstance(v, str) and MARKER.lower() in v.lower())
    return sorted(found, key=len, reverse=True)


def the_victim_s_links(tenant) -> set[str]:
    links = {
        f"/cases/{pk}/"
        for pk in Case.objects.filter(organization=tenant.org).values_list("pk", flat=True)
    }
    links |= {f'data-case="{link.split("/")[2]}"' for link in links}
    links |= {f"/regions/{pk}/" for pk in tenant.org.regions.values_list("pk", flat=True)}
    for model in admin.site._registry:
        if ownership(model) is None:
            continue
        info = model._meta.app_label, model._meta.model_name
        for pk in owned_rows(model, tenant).values_list("pk", flat=True):
            links.add(f"/admin/{info[0]}/{info[1]}/{pk}/change/")
    return links


def build_world() -> World:
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True  # no task leaves for a real broker
    try:
        victim = build_tenant(MARKER, phone="+84 90 111 2222")
        attacker = build_tenant("ATTACKER", phone="+66 81 333 4444")
    finally:
        celery_app.conf.task_always_eager = eager
    # Inside the world's transaction nothing commits, so nothing refreshes on commit.
    metrics_services.rebuild_rollups()
    for tenant in (victim, attacker):
        for role, user in tenant.people.items():
            client = Client()
            client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
            tenant.sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
    kiosks = Kiosk.objects.filter(organization=victim.org).values_list("public_id", flat=True)
    contacts = ContactDetails.objects.filter(response__organization=victim.org)
    opaque = [
        *(body["id"] for body in victim.bodies),
        *(str(public_id) for public_id in kiosks),
        *WebhookEndpoint.objects.filter(organization=victim.org).values_list("secret", flat=True),
        *contacts.values_list("phone", flat=True),
        victim.api_token,
        victim.kiosk_token,
    ]
    return World(
        victim=victim,
        attacker=attacker,
        baseline=snapshot(victim),
        secrets=the_victim_s_strings(victim),
        opaque=opaque,
        links=the_victim_s_links(victim),
    )


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Both organizations, built once in a transaction that each test's own nests in (so a
    test's changes roll back) and that is rolled back when the module ends."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            built = build_world()
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    try:
        yield built
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def client_as(world: World, tenant: Tenant, identity: str) -> Client:
    if identity == "personal_token":
        client = Client(HTTP_AUTHORIZATION=f"Bearer {tenant.api_token}")
    elif identity == "kiosk_token":
        client = Client(HTTP_AUTHORIZATION=f"Bearer {tenant.kiosk_token}")
    else:
        client = Client()
        client.cookies[settings.SESSION_COOKIE_NAME] = tenant.sessions[identity]
    client.handler = world.handler
    return client


# --- every URL pattern, and how to fill it ------------------------------------------------------


class Unfillable(Exception):
    """This module does not know how to fill a URL's argument: say how, so it is tried."""


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

VICTIM, ATTACKER, GHOST = "victim", "attacker", "ghost"
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


# --- the tests ------------------------------------------------------------------------------------


def test_every_url_pattern_is_one_this_module_knows_how_to_fill():
    unfillable = {str(route): unknown_arguments(route) for route in ROUTES}
    assert {route: names for route, names in unfillable.items() if names} == {}


@pytest.mark.parametrize("identity", ATTACKERS)
@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_another_organization_gets_nothing_of_the_victim_s_from(route, identity, world, db):
    client = client_as(world, world.attacker, identity)
    if route not in world.tried:
        try:
            world.tried[route] = probes(route, world)
        except Unfillable as error:
            world.tried[route] = error
    if isinstance(world.tried[route], Unfillable):
        pytest.fail(f"{route} cannot be tried: {world.tried[route]}")
    problems, sent = [], ""
    for probe in world.tried[route]:
        # Everything the attacker sent so far may come back (the admin's "ID … does not
        # exist" is shown on the next page): that reveals nothing.
        sent += probe.sent + (probe.ghost or "")
        writes = Writes()
        with connection.execute_wrapper(writes):
            response = send(client, probe, as_json=is_api(route))
            text = readable(response)  # a streamed export runs its queries now
        if response.status_code not in ANSWERS:
            problems.append(f"{probe} answered {response.status_code}")
        leaked = revealed(world, text, sent)
        if leaked:
            problems.append(f"{probe} ({response.status_code}) shows the victim's {leaked[:5]}")
        if writes.count and snapshot(world.victim) != world.baseline:
            problems.append(f"{probe} ({response.status_code}) changed the victim's data")
            break
        if probe.ghost:
            ghost = send(client, Probe("GET", probe.ghost))
            if outcome(response) != outcome(ghost, probe.ghost_values):
                problems.append(
                    f"{probe} answers {outcome(response)} for the victim's ids but "
                    f"{outcome(ghost)} for ids that exist nowhere ({probe.ghost}): "
                    "that tells which ids exist"
                )
    assert not problems, f"as the attacker's {identity}:\n" + "\n".join(problems)


NAMING = [route for route in ROUTES if IDENTIFIERS & set(arguments(route))]


@pytest.mark.parametrize("route", NAMING, ids=str)
def test_the_victim_s_own_head_office_finds_every_id_the_attacker_was_refused(route, world, db):
    """Not vacuous: the ids tried above are real ones, found by their owner."""
    if route.name == "admin:view_on_site":
        pytest.skip("no model has a page on the site (get_absolute_url): a 404 for everyone")
    client = client_as(world, world.victim, "head_office")
    for probe in probes(route, world, only_victim=True):
        response = send(client, probe)
        assert response.status_code != 404, probe
        assert response.get("Location") != "/admin/", f"{probe}: the admin says it does not exist"


def test_the_victim_s_own_head_office_sees_the_secrets_the_attacker_never_does(world, db):
    victim = world.victim
    client = client_as(world, victim, "head_office")
    org, store = victim.org.slug, victim.store.code

    store_page = readable(client.get(f"/dashboard/{org}/stores/{store}/", **FROM_THE_INTERNET))
    case = Case.objects.filter(organization=victim.org, location=victim.store).first()
    case_page = readable(client.get(f"/cases/{case.pk}/", **FROM_THE_INTERNET))
    export = readable(
        client.get(f"/dashboard/{org}/stores/{store}/export/responses.xlsx", **FROM_THE_INTERNET)
    )
    kiosks = readable(client.get("/admin/locations/kiosk/", **FROM_THE_INTERNET))
    scores = client_as(world, victim, "personal_token").get(
        "/api/v1/metrics/scores/", {"group_by": "staff"}, **FROM_THE_INTERNET
    )

    assert f"{MARKER} comment: waited forty minutes" in store_page
    assert f"{MARKER} barista Lan" in store_page
    assert "victim.customer@mail.example" in case_page
    assert f"{MARKER} note: called the customer back" in case_page
    assert victim.bodies[1]["id"] in export
    assert f"{MARKER} kiosk at the till" in kiosks
    assert {"staff": victim.staff.code} in [r["group"] for r in scores.json()["results"]]
    # Every one of those would have been caught had it reached the attacker.
    for text in (store_page, case_page, export, kiosks, readable(scores)):
        assert revealed(world, text, sent="")


@pytest.mark.parametrize("identity", ["head_office", "regional_manager", "store_manager"])
def test_walking_the_ids_next_to_the_victim_s_finds_only_the_attacker_s_own(world, identity, db):
    """Cases, regions and admin rows have sequential integer ids, so they can be guessed:
    what protects them is that a guessed id of another tenant's answers exactly as one that
    does not exist — a 404 (the admin: its "does not exist" redirect), never a 403."""
    attacker = world.attacker
    client = client_as(world, attacker, identity)
    user = attacker.people[identity]

    own_cases = set(cases.visible_cases(user).values_list("pk", flat=True))
    all_cases = Case.objects.values_list("pk", flat=True)
    for pk in range(min(all_cases) - 2, max(all_cases) + 3):
        answer = client.get(f"/cases/{pk}/", **FROM_THE_INTERNET).status_code
        assert answer == (200 if pk in own_cases else 404), f"/cases/{pk}/"

    regions = Region.objects.values_list("pk", flat=True)
    for pk in range(min(regions) - 2, max(regions) + 3):
        url = f"/dashboard/{attacker.org.slug}/regions/{pk}/"
        own = Region.objects.filter(pk=pk, organization=attacker.org)
        sees = identity == "head_office" or (
            identity == "regional_manager" and pk == attacker.region.pk
        )
        expected = 200 if own.exists() and sees else 404
        assert client.get(url, **FROM_THE_INTERNET).status_code == expected, url

    kiosks = Kiosk.objects.values_list("pk", flat=True)
    for pk in range(min(kiosks) - 2, max(kiosks) + 3):
        url = f"/admin/locations/kiosk/{pk}/change/"
        answer = outcome(client.get(url, **FROM_THE_INTERNET))
        if identity != "head_office":
            assert answer == (302, f"/admin/login/?next={url}"), url
        elif Kiosk.objects.filter(pk=pk, organization=attacker.org).exists():
            assert answer == (200, ""), url
        else:
            assert answer == (302, "/admin/"), url


def test_responses_are_keyed_by_the_ids_their_devices_made_not_by_a_counter():
    assert isinstance(SurveyResponse._meta.pk, models.UUIDField)


def test_a_kiosk_of_another_organization_can_neither_claim_nor_probe_the_victim_s_data(world, db):
    victim = world.victim
    kiosk = client_as(world, world.attacker, "kiosk_token")

    def post(path, body):
        return kiosk.post(path, json.dumps(body), "application/json", **FROM_THE_INTERNET)

    # The victim's very body, resent by another kiosk: a conflict, never the stored response.
    resent = post("/api/v1/kiosk/responses/", victim.bodies[1])
    batch = post("/api/v1/kiosk/responses/batch/", {"responses": [victim.bodies[1]]})
    assert resent.status_code == 409
    assert set(resent.json()) == {"detail", "id"}
    assert batch.json()["results"] == [
        {"id": victim.bodies[1]["id"], "status": "conflict", "errors": {"id": resent.json()["id"]}}
    ]
    assert not revealed(world, readable(resent) + readable(batch), sent=json.dumps(victim.bodies))

    # The victim's survey version and staff code are refused in the very words used for
    # ones that exist nowhere.
    def refusal(name, value):
        body = {
            "id": str(uuid.uuid4()),
            "submitted_at": timezone.now().isoformat(),
            "answers": {"nps": 9},
            name: value,
        }
        answer = post("/api/v1/kiosk/responses/", body)
        assert answer.status_code == 400
        return json.dumps(answer.json()).replace(json.dumps(value).strip('"'), "…")

    assert refusal("survey_version", victim.version.pk) == refusal("survey_version", GHOST_PK)
    assert refusal("staff", victim.staff.code) == refusal("staff", "NO-SUCH-STAFF")
    assert snapshot(victim) == world.baseline


def test_every_api_operation_of_the_schema_is_among_the_requests_tried(world, db):
    schema = Client().get("/api/schema/?format=json", **FROM_THE_INTERNET).json()
    operations = {
        (path, method.upper())
        for path, item in schema["paths"].items()
        for method in item
        if method != "parameters"
    }
    tried = {
        (
            "/" + ARGUMENT.sub(lambda m: "{" + (m.group(1) or m.group(2)) + "}", route.pattern),
            method,
        )
        for route in ROUTES
        for method in methods(route)
    }

    assert operations, "the schema lists no operation"
    assert operations <= tried
