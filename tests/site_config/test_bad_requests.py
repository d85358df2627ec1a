"""Bodies a browser would never send, to every endpoint that takes a POST, signed in or
not: a request body in a charset other than UTF-8 or in none that exists, invalid UTF-8,
malformed multipart, too many fields, too large a body. Each gets a 400 on the site's own
error page with its security headers, or the form with an error; never a 500."""

import pytest
from django.test import Client

from tests.conftest import make_person
from users.models import User

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
BODIES = {
    "utf-16": (f"{FORM}; charset=utf-16", "subject=hi&body=x".encode("utf-16")),
    "latin-1": (f"{FORM}; charset=latin-1", "subject=h\xe9&body=x".encode("latin-1")),
    "ascii with 8-bit bytes": (f"{FORM}; charset=ascii", b"subject=h\xe9&body=x"),
    "an unknown charset": (f"{FORM}; charset=no-such-charset", b"subject=hi&body=x"),
    "invalid UTF-8": (FORM, b"subject=\xff\xfe&body=%ff%fe"),
    "multipart cut short": (
        "multipart/form-data; boundary=zzz",
        b'--zzz\r\nContent-Disposition: form-data; name="subject"\r\n\r\nhi',
    ),
    "multipart without a boundary": ("multipart/form-data", b"--\r\n\r\n"),
    "multipart in utf-16": (
        "multipart/form-data; boundary=zzz; charset=utf-16",
        b'--zzz\r\nContent-Disposition: form-data; name="subject"\r\n\r\nh\xff\r\n--zzz--\r\n',
    ),
    "5,000 fields": (FORM, "&".join(f"f{n}=1" for n in range(5000)).encode()),
    "a 3 MB body": (FORM, b"body=" + b"x" * 3_000_000),
}
ENDPOINTS = [
    "/accounts/register/",
    "/accounts/register/validate/",
    "/accounts/login/",
    "/accounts/login/validate/",
    "/accounts/logout/",
    "/accounts/confirm/resend/",
    "/accounts/confirm/not-a-token/",
    "/accounts/password/reset/",
    "/accounts/password/reset/validate/",
    "/accounts/password/reset/new/validate/",
    "/accounts/password/reset/MQ/set-password/",
    "/accounts/password/",
    "/accounts/password/validate/",
    "/accounts/delete/",
    "/accounts/delete/validate/",
    "/messages/new/",
    "/messages/new/validate/",
    "/i18n/setlang/",
    "/admin/login/",
    "/admin/logout/",
    "/admin/contact/message/",
    "/admin/users/user/add/",
]


@pytest.fixture(params=["visitor", "person", "staff"])
def visitor(request) -> Client:
    client = Client()
    if request.param == "person":
        client.force_login(make_person("ann@example.org"))
    elif request.param == "staff":
        client.force_login(
            User.objects.create_superuser(email="boss@example.org", password="plum-harbour-42")
        )
    return client


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_no_bad_body_gets_a_server_error(visitor, body):
    content_type, data = body
    for path in ENDPOINTS:
        for headers in ({}, {"HX-Request": "true"}):
            response = visitor.generic(
                "POST", path, data, content_type=content_type, headers=headers
            )

            assert response.status_code < 500, (path, headers)
            if response.status_code == 400:
                html = response.content.decode()
                assert "<title>Bad request" in html, (path, html[:200])
                assert "Content-Security-Policy" in response.headers, path
