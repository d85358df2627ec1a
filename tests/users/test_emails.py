"""Every link in an account email is under SITE_URL, whatever Host the request that
asked for it came with: ALLOWED_HOSTS checks a host's name, not its port."""

import re

import pytest
from django.urls import reverse

from tests.conftest import GOOD_PASSWORD
from tests.users.mail import deliver_account_emails

pytestmark = pytest.mark.django_db

SITE_URL = "https://site.example.org"
# A port other than the site's, and one longer than any column would hold.
OTHER_PORTS = pytest.mark.parametrize(
    "host", ["testserver:8700", "testserver:" + "9" * 300], ids=["another-port", "overlong-port"]
)


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = SITE_URL


def emailed_urls(sink, *, to: str) -> list[str]:
    """Every address the email to `to` points at, its site_url in the text included."""
    body = sink.take(to=to, timeout=5).message.get_body(("plain",)).get_content()
    # A sentence may end right after one.
    return [url.rstrip(".,") for url in re.findall(r"https?://\S+", body)]


def assert_under_site_url(urls: list[str]) -> None:
    assert urls
    assert all(url == SITE_URL or url.startswith(f"{SITE_URL}/") for url in urls), urls


@OTHER_PORTS
def test_a_reset_asked_for_by_another_port_links_under_site_url(client, user, smtp_sink, host):
    known = client.post(reverse("password_reset"), {"email": user.email}, HTTP_HOST=host)
    unknown = client.post(
        reverse("password_reset"), {"email": "nobody@example.org"}, HTTP_HOST=host
    )

    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == reverse("password_reset_done")
    assert deliver_account_emails() == 1
    urls = emailed_urls(smtp_sink, to=user.email)
    assert_under_site_url(urls)
    assert any(url.startswith(f"{SITE_URL}/accounts/password/reset/") for url in urls)


@OTHER_PORTS
def test_a_sign_up_by_another_port_links_under_site_url(client, user, smtp_sink, host):
    data = {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    new = client.post(
        reverse("register"), {**data, "email": "someone.new@example.org"}, HTTP_HOST=host
    )
    taken = client.post(reverse("register"), {**data, "email": user.email}, HTTP_HOST=host)

    assert new.status_code == taken.status_code == 302
    assert new["Location"] == taken["Location"] == reverse("register-done")
    assert deliver_account_emails() == 2
    confirmation = emailed_urls(smtp_sink, to="someone.new@example.org")
    assert_under_site_url(confirmation)
    assert any(url.startswith(f"{SITE_URL}/accounts/confirm/") for url in confirmation)
    notice = emailed_urls(smtp_sink, to=user.email)
    assert_under_site_url(notice)
    assert f"{SITE_URL}/accounts/login/" in notice


@OTHER_PORTS
def test_a_new_confirmation_link_asked_for_by_another_port_is_under_site_url(
    client, unconfirmed_user, smtp_sink, host
):
    client.force_login(unconfirmed_user)

    asked = client.post(reverse("email-confirm-resend"), HTTP_HOST=host)

    assert asked.status_code == 302
    assert deliver_account_emails() == 1
    confirmation = emailed_urls(smtp_sink, to=unconfirmed_user.email)
    assert_under_site_url(confirmation)
    assert any(url.startswith(f"{SITE_URL}/accounts/confirm/") for url in confirmation)
