"""Bodies a browser would never send, to every endpoint that takes a POST, signed in or
not: a request body in a charset other than UTF-8 or in none that exists, invalid UTF-8,
malformed multipart, too many fields, too large a body. Each gets a 400 on the site's own
error page with its security headers, or the form with an error; never a 500."""

import pytest
from django.test import Client

from tests.conftest import make_person
from tests.hostile import BODIES, ENDPOINTS
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["visitor", "person", "staff"])
def visitor(request) -> Client:
    # With the CSRF checks a browser meets: the check reads the body before any view.
    client = Client(enforce_csrf_checks=True)
    if request.param == "person":
        client.force_login(make_person("ann@example.org"))
    elif request.param == "staff":
        client.force_login(
            User.objects.create_superuser(email="boss@example.org", password="plum-harbour-42")
        )
    # Every page carries the token (for htmx), and so sets its cookie.
    client.get("/")
    return client


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_no_bad_body_gets_a_server_error(visitor, body):
    content_type, data = body
    for path in ENDPOINTS:
        token = {"X-CSRFToken": visitor.cookies["csrftoken"].value}
        for headers in (token, {**token, "HX-Request": "true"}):
            response = visitor.generic(
                "POST", path, data, content_type=content_type, headers=headers
            )

            assert response.status_code < 500, (path, headers)
            if response.status_code == 400:
                html = response.content.decode()
                assert "<title>Bad request" in html, (path, html[:200])
                assert "Content-Security-Policy" in response.headers, path


FORM = "application/x-www-form-urlencoded"
CHARSETS = ["utf-16", "latin-1", "ascii", "utf8", "no-such-charset"]


@pytest.mark.parametrize("debug", [False, True], ids=["debug off", "debug on"])
@pytest.mark.parametrize("charset", CHARSETS)
def test_a_form_body_in_any_charset_but_utf8_is_a_bad_request(visitor, settings, debug, charset):
    # Django reads a form body as UTF-8 only; its debug page would read the body again.
    settings.DEBUG = debug
    token = {"X-CSRFToken": visitor.cookies["csrftoken"].value}
    for path in ENDPOINTS:
        response = visitor.generic(
            "POST",
            path,
            b"subject=hi&body=x",
            content_type=f"{FORM}; charset={charset}",
            headers=token,
        )

        assert response.status_code == 400, path
        assert "<title>Bad request" in response.content.decode(), path
        assert "Content-Security-Policy" in response.headers, path


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8"])
def test_a_form_body_that_says_utf8_is_read(client, charset):
    response = client.generic(
        "POST",
        "/accounts/login/validate/",
        b"username=ann%40",
        content_type=f"{FORM}; charset={charset}",
    )

    assert response.json()["errors"] == {}


@pytest.mark.parametrize(
    "url",
    [
        "/admin/contact/message/?status__exact=%00",
        "/admin/contact/message/?q=a%00b",
        "/admin/users/user/?o=%00",
        "/messages/?page=%00",
        "/accounts/login/?next=%00",
        "/accounts/confirm/a%00b/",
    ],
)
def test_a_nul_character_in_the_url_is_a_bad_request(url):
    client = Client()
    client.force_login(
        User.objects.create_superuser(email="boss@example.org", password="plum-harbour-42")
    )

    response = client.get(url)

    assert response.status_code == 400
    assert "<h1>Bad request</h1>" in response.content.decode()
    assert "Content-Security-Policy" in response.headers
