"""The world the tenant isolation tests attack: two organizations, their people and data."""

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.test import Client
from django.test.client import ClientHandler
from django.utils import timezone

from cxhub.celery import app as celery_app
from locations import services as location_services
from locations.models import Kiosk, Location, Organization, Region, Role, Touchpoint
from metrics import services as metrics_services
from surveys import cases, recovery
from surveys.demo import add_contact_question
from surveys.models import (
    Alert,
    AlertRule,
    Case,
    ContactDetails,
    RuleKind,
    WebhookDelivery,
    WebhookEndpoint,
)
from surveys.services import Status, create_default_survey, record_response
from tests.factories import LocationFactory, StaffMemberFactory

User = get_user_model()

MARKER = "VICTIM"
VICTIM, ATTACKER, GHOST = "victim", "attacker", "ghost"


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


class Unfillable(Exception):
    """The tests do not know how to fill a URL's argument: say how, so it is tried."""


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
