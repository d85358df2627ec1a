"""users.middleware: request.user is worked out by Django's auth.get_user, with the
person read together with the session at hand."""

import pytest
from django.contrib.auth.middleware import (
    AuthenticationMiddleware as DjangoAuthenticationMiddleware,
)
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from tests.conftest import GOOD_PASSWORD
from users.middleware import AuthenticationMiddleware
from users.models import Session, User
from users.sessions import SessionStore

pytestmark = pytest.mark.django_db


def request_with_session(key: str | None, middleware=AuthenticationMiddleware):
    request = RequestFactory().get("/")
    request.session = SessionStore(key)
    middleware(lambda request: HttpResponse()).process_request(request)
    return request


def test_a_signed_in_request_reads_its_session_and_person_in_one_query(signed_in_key, user):
    request = request_with_session(signed_in_key)

    with CaptureQueriesContext(connection) as queries:
        assert request.user == user

    assert len(queries) == 1


def test_djangos_middleware_takes_two_queries_for_the_same(signed_in_key, user):
    # What the middleware saves; also shows the count above can tell them apart.
    request = request_with_session(signed_in_key, middleware=DjangoAuthenticationMiddleware)

    with CaptureQueriesContext(connection) as queries:
        assert request.user == user

    assert len(queries) == 2


def test_the_session_data_decides_who_is_signed_in_not_the_row(signed_in_key, user):
    # Should the row ever name someone else, the person read with it is not taken.
    other = User.objects.create_user(email="someone.else@example.org", password=GOOD_PASSWORD)
    Session.objects.filter(session_key=signed_in_key).update(user=other)

    assert request_with_session(signed_in_key).user == user


def test_a_request_without_a_session_is_anonymous_without_a_query():
    request = request_with_session(None)

    with CaptureQueriesContext(connection) as queries:
        assert not request.user.is_authenticated

    assert len(queries) == 0


def test_an_inactive_account_is_not_signed_in(signed_in_key, user):
    User.objects.filter(pk=user.pk).update(is_active=False)

    assert not request_with_session(signed_in_key).user.is_authenticated


def test_a_password_changed_elsewhere_signs_the_session_out(signed_in_key, user):
    user.set_password(GOOD_PASSWORD + "-new")
    user.save()

    assert not request_with_session(signed_in_key).user.is_authenticated
