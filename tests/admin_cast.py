"""The cast the admin tests share: head office of the `store` fixture's chain, and its browser.

A test module imports the fixtures it uses (pytest finds them by their `name`); the
functions' own names differ so that a test's `owner` argument shadows no import.
"""

import pytest
from django.test import Client

from locations.models import Role
from tests.factories import MembershipFactory, UserFactory


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(name="head_office")
def head_office_fixture(store):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=store.organization, role=Role.HEAD_OFFICE)
    return user


@pytest.fixture(name="owner")
def owner_fixture(head_office):
    return signed_in(head_office)
