"""Who is signed in, as Django's own sessions and authentication keep it: what the site
relies on them for."""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from tests.conftest import GOOD_PASSWORD, HTMX, caches_with_redis_away
from users.models import User

pytestmark = pytest.mark.django_db


def signed_in(client) -> bool:
    return client.get(reverse("message-list")).status_code == 200


def test_a_signed_in_session_is_kept_in_djangos_session_table(client, signed_in_key, user):
    data = Session.objects.get(session_key=signed_in_key).get_decoded()

    assert data["_auth_user_id"] == str(user.pk)
    assert isinstance(client.session, SessionStore)


def test_deleting_an_account_signs_it_out_everywhere(client, user):
    other_browser = type(client)()
    client.force_login(user)
    other_browser.force_login(user)

    user.delete()

    assert not signed_in(client)
    assert not signed_in(other_browser)


def test_a_password_changed_elsewhere_signs_the_other_sessions_out(client, user):
    client.force_login(user)
    assert signed_in(client)

    user.set_password(GOOD_PASSWORD + "-new")
    user.save()

    assert not signed_in(client)


def test_an_account_made_inactive_is_signed_out(client, user):
    client.force_login(user)

    User.objects.filter(pk=user.pk).update(is_active=False)

    assert not signed_in(client)


def test_a_tampered_session_cookie_signs_nobody_in(client, signed_in_key):
    Session.objects.filter(session_key=signed_in_key).update(session_data="forged:data")

    assert not signed_in(client)


def test_clearsessions_deletes_the_expired_sessions_only(client, user):
    client.force_login(user)
    live = client.session.session_key
    expired = SessionStore()
    expired["colour"] = "plum"
    expired.create()
    Session.objects.filter(session_key=expired.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )

    call_command("clearsessions")

    assert list(Session.objects.values_list("session_key", flat=True)) == [live]


def test_with_redis_away_a_signed_in_person_still_reads_and_writes(client, user):
    # Sessions live in the database, so a cache that cannot be reached is no one's
    # concern on these pages.
    client.force_login(user)

    with override_settings(CACHES=caches_with_redis_away()):
        home = client.get(reverse("home"))
        listed = client.get(reverse("message-list"))
        sent = client.post(reverse("message-new"), {"subject": "Hi", "body": "Hello"}, **HTMX)

    assert (home.status_code, listed.status_code, sent.status_code) == (200, 200, 200)
    assert "is on its way" in sent.content.decode()
