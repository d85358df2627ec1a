import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())


@pytest.mark.parametrize("url_name", ["home", "register", "login", "admin:login"])
def test_every_page_carries_the_content_security_policy(client, url_name):
    policy = directives(client.get(reverse(url_name)))

    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in str(policy) and "unsafe-eval" not in str(policy)


def test_pages_have_no_inline_scripts_or_styles(client, user):
    client.force_login(user)
    for url in [reverse("home"), reverse("register"), reverse("login")]:
        html = client.get(url).content.decode()
        assert "<script>" not in html and "<style" not in html and " style=" not in html
        assert all('src="' in tag for tag in html.split("<script")[1:]), url


def test_htmx_is_configured_for_the_policy(client):
    html = client.get(reverse("home")).content.decode()

    assert '"allowEval": false' in html
    assert '"includeIndicatorStyles": false' in html
    assert '"selfRequestsOnly": true' in html


def test_pages_refuse_to_be_framed(client):
    assert client.get(reverse("home"))["X-Frame-Options"] == "DENY"
