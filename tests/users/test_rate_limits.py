import pytest
from django.test import override_settings
from django.urls import reverse

from tests.conftest import GOOD_PASSWORD, HTMX, caches_with_redis_away
from users.models import User
from users.views import SIGNUPS_LIMITED

pytestmark = pytest.mark.django_db


def sign_up(client, number: int, *, address: str, htmx: bool = True):
    extra = {**HTMX} if htmx else {}
    data = {
        "email": f"person{number}@example.org",
        "password1": GOOD_PASSWORD,
        "password2": GOOD_PASSWORD,
    }
    return client.post(reverse("register"), data, REMOTE_ADDR=address, **extra)


DONE = "/accounts/register/done/"


def test_sign_ups_are_limited_per_address(client, settings):
    settings.SIGNUPS_PER_HOUR = 2
    for number in range(2):
        assert sign_up(client, number, address="192.0.2.1")["HX-Redirect"] == DONE

    limited = sign_up(client, 2, address="192.0.2.1")
    elsewhere = sign_up(client, 3, address="192.0.2.2")

    assert limited.status_code == 200
    assert str(SIGNUPS_LIMITED) in limited.content.decode()
    assert elsewhere["HX-Redirect"] == DONE
    assert User.objects.count() == 3


def test_a_limited_plain_sign_up_gets_429(client, settings):
    settings.SIGNUPS_PER_HOUR = 1
    sign_up(client, 0, address="192.0.2.1")

    response = sign_up(client, 1, address="192.0.2.1", htmx=False)

    assert response.status_code == 429
    assert str(SIGNUPS_LIMITED) in response.content.decode()


def test_failed_sign_ups_use_up_the_limit_too(client, settings):
    # Otherwise the sign-up form would be an unlimited probe of anything it checks.
    settings.SIGNUPS_PER_HOUR = 3
    for _ in range(3):
        client.post(reverse("register"), {"email": "bad"}, REMOTE_ADDR="192.0.2.1", **HTMX)

    limited = sign_up(client, 0, address="192.0.2.1")

    assert str(SIGNUPS_LIMITED) in limited.content.decode()
    assert not User.objects.exists()


def test_sign_ups_with_taken_addresses_count_like_any_other(client, settings, user):
    settings.SIGNUPS_PER_HOUR = 2
    data = {"email": user.email, "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    for _ in range(2):
        client.post(reverse("register"), data, REMOTE_ADDR="192.0.2.1", **HTMX)

    limited = sign_up(client, 0, address="192.0.2.1")

    assert str(SIGNUPS_LIMITED) in limited.content.decode()


def test_live_validation_is_limited_per_address(client, settings):
    settings.VALIDATIONS_PER_MINUTE = 3
    url = reverse("register-validate")
    data = {"email": "x", "_touched": ["email"]}
    for _ in range(3):
        assert client.post(url, data, REMOTE_ADDR="192.0.2.1").status_code == 200

    limited = client.post(url, data, REMOTE_ADDR="192.0.2.1")
    elsewhere = client.post(url, data, REMOTE_ADDR="192.0.2.2")

    assert limited.status_code == 429
    assert limited.json() == {"errors": {}, "limited": True}
    assert elsewhere.status_code == 200


def test_with_redis_away_sign_up_and_live_validation_still_answer(client, caplog):
    # The limits count in the cache; an unreachable one lets people through, logged.

    with override_settings(CACHES=caches_with_redis_away()):
        validated = client.post(
            reverse("register-validate"), {"email": "nope", "_touched": "email"}, **HTMX
        )
        signed_up = sign_up(client, 1, address="192.0.2.1")

    assert validated.status_code == 200
    assert "email" in validated.json()["errors"]
    assert signed_up["HX-Redirect"] == DONE
    assert User.objects.filter(email="person1@example.org").exists()
    assert "Rate limit 'signup' not counted: the cache is unavailable." in caplog.text
