"""Passwords are hashed with Argon2; older hashes move to it as people sign in."""

import pytest
from django.contrib.auth.hashers import make_password
from django.urls import reverse

from site_config import settings as site_settings
from tests.conftest import GOOD_PASSWORD, HTMX
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def production_hashers(settings):
    # The suite hashes with MD5 for speed; these tests are about the real list.
    settings.PASSWORD_HASHERS = site_settings.PASSWORD_HASHERS


def test_a_new_account_gets_an_argon2_hash():
    user = User.objects.create_user(email="new@example.org", password=GOOD_PASSWORD)

    assert user.password.startswith("argon2$")
    assert user.check_password(GOOD_PASSWORD)


def test_a_pbkdf2_hash_is_rehashed_with_argon2_at_sign_in(client):
    user = User.objects.create_user(email="old@example.org")
    User.objects.filter(pk=user.pk).update(
        password=make_password(GOOD_PASSWORD, hasher="pbkdf2_sha256")
    )

    answer = client.post(
        reverse("login"), {"username": "old@example.org", "password": GOOD_PASSWORD}, **HTMX
    )

    assert answer["HX-Redirect"] == "/"
    user.refresh_from_db()
    assert user.password.startswith("argon2$")
    assert user.check_password(GOOD_PASSWORD)
