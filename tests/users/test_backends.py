import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import GOOD_PASSWORD
from tests.users.conftest import account
from users.backends import ModelBackend, user_read_with_session
from users.models import User

pytestmark = pytest.mark.django_db


def test_get_user_reads_the_whole_account_in_one_query(user):
    with CaptureQueriesContext(connection) as queries:
        found = ModelBackend().get_user(str(user.pk))

    assert len(queries) == 1
    assert account(found) == account(user)


def test_get_user_takes_the_person_read_with_the_session_without_a_query(user):
    with user_read_with_session(user), CaptureQueriesContext(connection) as queries:
        found = ModelBackend().get_user(str(user.pk))

    assert found is user
    assert len(queries) == 0


def test_get_user_reads_the_account_when_another_was_read_with_the_session(user):
    other = User.objects.create_user(email="someone.else@example.org", password=GOOD_PASSWORD)

    with user_read_with_session(other), CaptureQueriesContext(connection) as queries:
        found = ModelBackend().get_user(str(user.pk))

    assert found == user
    assert len(queries) == 1


def test_get_user_refuses_an_inactive_account(user):
    user.is_active = False
    user.save()

    assert ModelBackend().get_user(str(user.pk)) is None


@pytest.mark.parametrize("user_id", ["999999", "not-a-number"])
def test_get_user_finds_nobody_for_an_unknown_or_malformed_key(user, user_id):
    assert ModelBackend().get_user(user_id) is None


def test_a_password_change_signs_the_other_sessions_out(client, user):
    client.force_login(user)
    assert client.get("/messages/").status_code == 200

    user.set_password(GOOD_PASSWORD + "-new")
    user.save()

    assert client.get("/messages/").status_code == 302
