import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_home_invites_a_visitor_to_sign_up_or_sign_in(client):
    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert f'href="{reverse("register")}"'.encode() in response.content
    assert f'href="{reverse("login")}"'.encode() in response.content
    assert b'id="message-form"' not in response.content


def test_home_shows_a_signed_in_person_the_message_form(client, user):
    client.force_login(user)

    response = client.get(reverse("home"))

    assert b'id="message-form"' in response.content
    assert b">Subject<" in response.content
    assert b">Message<" in response.content
    assert user.email.encode() in response.content


def test_pages_load_scripts_from_this_site_only(client):
    html = client.get(reverse("home")).content.decode()

    sources = re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
    assert sources, "the page loads no scripts"
    assert all(source.startswith("/static/") for source in sources), sources


def test_pages_send_the_csrf_token_with_every_htmx_request(client):
    html = client.get(reverse("home")).content.decode()

    assert re.search(r"""<body hx-headers='\{"X-CSRFToken": "\w+"\}'>""", html)
