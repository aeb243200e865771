"""Factories for the cast of every test: an organization with a store, a kiosk and staff."""

import uuid
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from locations import services as location_services
from locations.models import Location, Membership, Organization, Region, Role, StaffMember
from surveys.services import create_default_survey


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Chain {n}")
    slug = factory.Sequence(lambda n: f"chain-{n}")
    default_language = "vi"

    @factory.post_generation
    def with_survey(obj, create, extracted, **kwargs):
        if create and extracted is not False:
            obj.default_survey = create_default_survey(organization=obj)
            obj.save(update_fields=["default_survey"])


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Region

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Region {n}")


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location

    organization = factory.SubFactory(OrganizationFactory)
    region = factory.SubFactory(RegionFactory, organization=factory.SelfAttribute("..organization"))
    code = factory.Sequence(lambda n: f"HCM-{n:02d}")
    name = factory.Sequence(lambda n: f"Store {n}")
    timezone = "Asia/Ho_Chi_Minh"


class StaffMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffMember

    location = factory.SubFactory(LocationFactory)
    organization = factory.SelfAttribute("location.organization")
    code = factory.Sequence(lambda n: f"NV-{n:03d}")
    display_name = factory.Sequence(lambda n: f"Nguyễn Văn {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.SelfAttribute("username")
    password = factory.django.Password("correct horse battery staple")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.HEAD_OFFICE


def make_kiosk(location, touchpoint=None, registered_days_ago=0):
    """A kiosk and its bearer token, as `create_kiosk` makes them."""
    issued = location_services.create_kiosk(location=location, touchpoint=touchpoint)
    if registered_days_ago:
        issued.kiosk.registered_at = timezone.now() - timedelta(days=registered_days_ago)
        issued.kiosk.save(update_fields=["registered_at"])
    return issued.kiosk, issued.token


def a_response(**answers):
    """A valid response body for the default survey, answered just now."""
    return {
        "id": str(uuid.uuid4()),
        "submitted_at": timezone.now().isoformat(),
        "language": "vi",
        "answers": answers or {"nps": 9, "csat": 5, "ces": 6},
    }
