from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.users.conftest import account
from users.models import Session
from users.sessions import SessionStore

pytestmark = pytest.mark.django_db


def saved_session(**data) -> SessionStore:
    session = SessionStore()
    session.update(data)
    session.save()
    return session


def test_a_saved_session_loads_with_its_data_in_one_query():
    key = saved_session(colour="plum", count=3).session_key

    with CaptureQueriesContext(connection) as queries:
        loaded = SessionStore(key)
        assert dict(loaded.items()) == {"colour": "plum", "count": 3}

    assert len(queries) == 1
    assert loaded.session_key == key


def test_an_expired_session_loads_empty_and_saves_under_a_new_key():
    key = saved_session(colour="plum").session_key
    an_instant_ago = timezone.now() - timedelta(seconds=1)
    Session.objects.filter(session_key=key).update(expire_date=an_instant_ago)

    loaded = SessionStore(key)
    assert dict(loaded.items()) == {}
    loaded["colour"] = "teal"
    loaded.save()

    assert loaded.session_key != key


def test_an_unknown_key_loads_empty_and_is_not_adopted():
    loaded = SessionStore("unknown-session-key-0123456789")

    assert dict(loaded.items()) == {}
    loaded["colour"] = "teal"
    loaded.save()

    assert loaded.session_key != "unknown-session-key-0123456789"
    assert not Session.objects.filter(session_key="unknown-session-key-0123456789").exists()


def test_a_session_whose_data_was_tampered_with_loads_empty():
    key = saved_session(colour="plum").session_key
    Session.objects.filter(session_key=key).update(session_data="forged:data")

    assert dict(SessionStore(key).items()) == {}


def test_the_site_uses_this_store(client, user):
    client.force_login(user)

    assert isinstance(client.session, SessionStore)


def test_a_signed_in_session_names_its_person_on_its_row(signed_in_key, user):
    assert Session.objects.get(session_key=signed_in_key).user == user


def test_the_person_is_read_with_the_session_in_one_query(signed_in_key, user):
    with CaptureQueriesContext(connection) as queries:
        loaded = SessionStore(signed_in_key)
        person = loaded.user_read_with_it

    assert len(queries) == 1
    assert account(person) == account(user)


def test_a_session_that_signs_nobody_in_reads_nobody():
    key = saved_session(colour="plum").session_key

    assert Session.objects.get(session_key=key).user is None
    assert SessionStore(key).user_read_with_it is None


def test_deleting_an_account_ends_its_sessions(signed_in_key, user):
    user.delete()

    assert not Session.objects.filter(session_key=signed_in_key).exists()


def test_clearsessions_deletes_the_expired_sessions_only():
    expired = saved_session(colour="plum").session_key
    live = saved_session(colour="teal").session_key
    an_instant_ago = timezone.now() - timedelta(seconds=1)
    Session.objects.filter(session_key=expired).update(expire_date=an_instant_ago)

    call_command("clearsessions")

    assert list(Session.objects.values_list("session_key", flat=True)) == [live]
