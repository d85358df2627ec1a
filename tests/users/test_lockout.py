from datetime import timedelta
from unittest import mock

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import checks
from django.db.models import F
from django.urls import reverse

from tests.conftest import GOOD_PASSWORD, HTMX
from users.lockout import check_lockout_bounds
from users.models import User

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed sign-in attempts for this account or from your network."


def sign_in(client, email: str, password: str, *, address: str = "192.0.2.1", htmx=True):
    extra = {**HTMX} if htmx else {}
    return client.post(
        reverse("login"),
        {"username": email, "password": password},
        REMOTE_ADDR=address,
        **extra,
    )


def fail_times(client, email: str, count: int, **kwargs) -> None:
    for _ in range(count):
        response = sign_in(client, email, "wrong-" + GOOD_PASSWORD, **kwargs)
        assert response.status_code == 200
        assert "HX-Redirect" not in response


def test_an_account_is_cooled_off_after_the_failure_limit(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    fail_times(client, user.email, 2)
    third = sign_in(client, user.email, "wrong-" + GOOD_PASSWORD)
    assert LOCKED.encode() in third.content

    response = sign_in(client, user.email, GOOD_PASSWORD)

    assert response.status_code == 200
    assert "HX-Redirect" not in response
    assert LOCKED.encode() in response.content
    assert b"Try again in 15 minutes." in response.content
    assert client.session.get("_auth_user_id") is None


def test_a_plain_post_during_the_cool_off_gets_429_with_the_form(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    fail_times(client, user.email, 3)

    response = sign_in(client, user.email, GOOD_PASSWORD, htmx=False)

    assert response.status_code == 429
    assert LOCKED.encode() in response.content
    assert b'id="login-form"' in response.content


def test_the_case_of_the_address_does_not_reset_the_count(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    fail_times(client, user.email.lower(), 2, address="192.0.2.1")
    fail_times(client, user.email.upper(), 1, address="198.51.100.7")

    response = sign_in(client, user.email, GOOD_PASSWORD, address="203.0.113.9")

    assert LOCKED.encode() in response.content


def test_one_address_failing_on_many_accounts_is_cooled_off(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for number in range(3):
        fail_times(client, f"guess{number}@example.org", 1, address="192.0.2.50")

    locked = sign_in(client, user.email, GOOD_PASSWORD, address="192.0.2.50")
    elsewhere = sign_in(client, user.email, GOOD_PASSWORD, address="192.0.2.51")

    assert LOCKED.encode() in locked.content
    assert elsewhere["HX-Redirect"] == "/"


def test_the_cool_off_ends_by_itself(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 2
    fail_times(client, user.email, 2)
    assert LOCKED.encode() in sign_in(client, user.email, GOOD_PASSWORD).content

    # The failures aged past the cool-off: a cool-off short enough to wait out could end
    # on a slow machine before the check above.
    past = settings.AXES_COOLOFF_TIME + timedelta(seconds=1)
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - past)

    assert sign_in(client, user.email, GOOD_PASSWORD)["HX-Redirect"] == "/"


def test_a_success_resets_the_count(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    fail_times(client, user.email, 2)
    assert sign_in(client, user.email, GOOD_PASSWORD)["HX-Redirect"] == "/"
    client.post(reverse("logout"))

    fail_times(client, user.email, 2)

    assert sign_in(client, user.email, GOOD_PASSWORD)["HX-Redirect"] == "/"


def test_signing_in_to_another_account_does_not_reset_the_count(client, user, settings):
    # An attacker guesses at the victim's password, then signs in to an account of their
    # own from the same address, hoping to wipe the failures between rounds of guesses.
    settings.AXES_FAILURE_LIMIT = 3
    own = "attacker@example.org"
    User.objects.create_user(email=own, password=GOOD_PASSWORD)
    fail_times(client, user.email, 2)
    assert sign_in(client, own, GOOD_PASSWORD)["HX-Redirect"] == "/"
    client.post(reverse("logout"))

    fail_times(client, user.email, 1)

    assert LOCKED.encode() in sign_in(client, user.email, GOOD_PASSWORD).content


@pytest.mark.parametrize("address", ["fresh@example.org", "ANN.LEE@example.org"])
def test_a_sign_up_does_not_reset_the_count(client, user, settings, address):
    # A sign-up for a new address, and one for the victim's own, in another case.
    settings.AXES_FAILURE_LIMIT = 3
    fail_times(client, user.email, 2)
    data = {"email": address, "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    assert client.post(reverse("register"), data, REMOTE_ADDR="192.0.2.1", **HTMX)["HX-Redirect"]

    fail_times(client, user.email, 1)

    assert LOCKED.encode() in sign_in(client, user.email, GOOD_PASSWORD).content


# Ways of typing the victim's address ("ann.lee@example.org") an attacker may try, hoping
# each is counted apart.
VARIANTS = ["ANN.LEE@EXAMPLE.ORG", " ann.lee@example.org ", "ａｎｎ.ｌｅｅ@example.org"]


def test_every_way_of_typing_the_address_counts_against_one_account(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for number, variant in enumerate(VARIANTS):
        fail_times(client, variant, 1, address=f"198.51.100.{number + 1}")

    response = sign_in(client, user.email, GOOD_PASSWORD, address="203.0.113.9")

    assert LOCKED.encode() in response.content


def test_interleaved_sign_ins_sign_ups_and_resets_never_reset_the_count(client, user, settings):
    # Between guesses in every form of the address: a sign-in to the attacker's own
    # account, a sign-up with the victim's address, a password reset request for it.
    settings.AXES_FAILURE_LIMIT = 4
    own = "attacker@example.org"
    User.objects.create_user(email=own, password=GOOD_PASSWORD)
    register = {"email": VARIANTS[0], "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    for variant in VARIANTS:
        fail_times(client, variant, 1)
        assert sign_in(client, own, GOOD_PASSWORD)["HX-Redirect"] == "/"
        client.post(reverse("logout"))
        client.post(reverse("register"), register, REMOTE_ADDR="192.0.2.1", **HTMX)
        client.post(reverse("password_reset"), {"email": variant}, REMOTE_ADDR="192.0.2.1")
    fail_times(client, user.email, 1)

    response = sign_in(client, user.email.upper(), GOOD_PASSWORD, address="203.0.113.9")

    assert LOCKED.encode() in response.content


def test_a_successful_sign_in_in_another_form_of_the_address_resets_the_count(
    client, user, settings
):
    settings.AXES_FAILURE_LIMIT = 3
    fail_times(client, VARIANTS[0], 2)
    assert sign_in(client, VARIANTS[2], GOOD_PASSWORD)["HX-Redirect"] == "/"
    client.post(reverse("logout"))

    fail_times(client, VARIANTS[1], 2)

    assert sign_in(client, user.email, GOOD_PASSWORD)["HX-Redirect"] == "/"


def test_the_shipped_settings_allow_at_most_100_failures_per_account_per_hour(settings):
    per_hour = settings.AXES_FAILURE_LIMIT * 3600 / settings.AXES_COOLOFF_TIME.total_seconds()

    assert per_hour <= 100
    assert check_lockout_bounds(None) == []


def test_settings_allowing_more_are_refused_by_a_system_check(settings):
    settings.AXES_FAILURE_LIMIT = 50
    settings.AXES_COOLOFF_TIME = timedelta(minutes=10)

    [error] = check_lockout_bounds(None)

    assert error.id == "users.E001"
    assert error.level == checks.ERROR
    assert "300 failed sign-ins per account per hour" in error.msg


def test_unknown_email_and_wrong_password_cost_one_hash_each(client, user, settings):
    # Hashing is most of a sign-in's time: Django hashes a dummy password for an unknown
    # email for this reason. `make bench` times the two (item 7).
    user.set_password(GOOD_PASSWORD)
    user.save()
    settings.AXES_ENABLED = False
    hash_password = MD5PasswordHasher.encode

    def hashes(email: str) -> int:
        with mock.patch.object(
            MD5PasswordHasher, "encode", autospec=True, side_effect=hash_password
        ) as hashing:
            sign_in(client, email, "wrong-" + GOOD_PASSWORD)
        return hashing.call_count

    assert hashes("nobody@example.org") == hashes(user.email) == 1
