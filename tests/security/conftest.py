"""Fixtures shared by the security tests: the tenancy world and a store manager."""

import pytest
from django.db import transaction

from locations.models import Role
from tests.factories import MembershipFactory

# The helper modules assert too: rewritten, their failures say what was compared.
pytest.register_assert_rewrite("tests.security.input_helpers", "tests.security.tenancy_world")


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Both organizations, built once in a transaction that each test's own nests in (so a
    test's changes roll back) and that is rolled back when the module ends."""
    from tests.security.tenancy_world import build_world  # after the rewrite is registered

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


@pytest.fixture
def manager(store):
    return MembershipFactory(
        organization=store.organization, role=Role.STORE_MANAGER, location=store
    ).user
