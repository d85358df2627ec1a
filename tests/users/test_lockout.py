from datetime import timedelta
from unittest import mock

import pytest
from axes.models import AccessAttempt
from django import forms
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import checks
from django.core.checks import run_checks
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.conftest import GOOD_PASSWORD, HTMX
from tests.users.mail import emailed_link
from users import forms as users_forms
from users.forms import CurrentPasswordCheck, LockoutAuthenticationForm
from users.lockout import check_lockout_bounds
from users.models import User

pytestmark = pytest.mark.django_db

LOCKED = "Too many wrong passwords for this account."
NETWORK_LOCKED = "Too many wrong passwords from your network."


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


def test_failures_from_one_address_lock_no_other_account(client, user, settings):
    # An office behind one address: others mistyping their passwords lock nobody else.
    settings.AXES_FAILURE_LIMIT = 3
    for number in range(3):
        fail_times(client, f"colleague{number}@example.org", 2, address="192.0.2.50")

    response = sign_in(client, user.email, GOOD_PASSWORD, address="192.0.2.50")

    assert response["HX-Redirect"] == "/"


def test_an_address_is_limited_apart_after_many_failures(client, user, settings):
    settings.SIGNIN_FAILURES_PER_ADDRESS_PER_HOUR = 4
    for number in range(4):
        fail_times(client, f"guess{number}@example.org", 1, address="192.0.2.50")

    locked = sign_in(client, user.email, GOOD_PASSWORD, address="192.0.2.50")
    elsewhere = sign_in(client, user.email, GOOD_PASSWORD, address="192.0.2.51")

    assert NETWORK_LOCKED.encode() in locked.content
    assert b"Try again in " in locked.content
    assert elsewhere["HX-Redirect"] == "/"


def test_a_try_the_address_limit_refused_counts_against_no_account(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.SIGNIN_FAILURES_PER_ADDRESS_PER_HOUR = 1
    fail_times(client, "guess@example.org", 1, address="192.0.2.50")
    fail_times(client, user.email, 3, address="192.0.2.50")

    assert not AccessAttempt.objects.filter(username=user.email).exists()
    assert sign_in(client, user.email, GOOD_PASSWORD, address="192.0.2.51")["HX-Redirect"] == "/"


def test_the_shipped_address_limit_is_far_above_the_accounts(settings):
    assert settings.SIGNIN_FAILURES_PER_ADDRESS_PER_HOUR == 100
    assert settings.SIGNIN_FAILURES_PER_ADDRESS_PER_HOUR >= 10 * settings.AXES_FAILURE_LIMIT


def test_django_axes_checks_pass_with_the_address_limited_apart(settings):
    # axes.W006 asks for the address among the lockout's parameters; it has its own limit.
    assert settings.AXES_LOCKOUT_PARAMETERS == ["username"]
    found = run_checks(include_deployment_checks=True)

    assert [m.id for m in found if m.id.startswith("axes.") and not m.is_silenced()] == []


def test_the_wait_is_what_is_left_of_the_cool_off(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 2
    fail_times(client, user.email, 2)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=10, seconds=30))

    response = sign_in(client, user.email, GOOD_PASSWORD)

    assert f"{LOCKED} Try again in 5 minutes.".encode() in response.content


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


# ---------------------------------------------------------------- a signed-in person's password


def change_password(client, current: str, *, htmx: bool = True):
    extra = {**HTMX} if htmx else {}
    new = "quince-meadow-compass-77"
    data = {"old_password": current, "new_password1": new, "new_password2": new}
    return client.post(reverse("password_change"), data, REMOTE_ADDR="192.0.2.1", **extra)


def delete_account(client, password: str, *, htmx: bool = True):
    extra = {**HTMX} if htmx else {}
    return client.post(
        reverse("account_delete"), {"password": password}, REMOTE_ADDR="192.0.2.1", **extra
    )


@pytest.mark.parametrize("ask", [change_password, delete_account])
def test_guesses_at_the_current_password_cool_the_account_off(client, user, settings, ask):
    settings.AXES_FAILURE_LIMIT = 3
    client.force_login(user)
    for _ in range(2):
        assert "incorrectly" in ask(client, "wrong-" + GOOD_PASSWORD).content.decode()
    third = ask(client, "wrong-" + GOOD_PASSWORD).content.decode()

    right = ask(client, GOOD_PASSWORD)

    assert f"{LOCKED} Try again in 15 minutes." in third
    assert right.status_code == 200
    assert "HX-Redirect" not in right
    assert f"{LOCKED} Try again in 15 minutes." in right.content.decode()
    user.refresh_from_db()
    assert user.check_password(GOOD_PASSWORD)
    # One count: the sign-in is cooled off too.
    assert LOCKED.encode() in sign_in(Client(), user.email, GOOD_PASSWORD).content


def test_sign_in_failures_and_current_password_guesses_share_one_count(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    # Signed in first: a sign-in forgets the account's failures.
    client.force_login(user)
    fail_times(Client(), user.email.upper(), 2, address="198.51.100.7")

    response = delete_account(client, "wrong-" + GOOD_PASSWORD)

    assert LOCKED.encode() in response.content
    assert User.objects.filter(pk=user.pk).exists()


@pytest.mark.parametrize(
    ("ask", "form_id"),
    [(change_password, "password-change-form"), (delete_account, "account-delete-form")],
)
def test_a_plain_post_during_the_cool_off_gets_429_with_its_own_page(
    client, user, settings, ask, form_id
):
    settings.AXES_FAILURE_LIMIT = 1
    client.force_login(user)
    fail_times(Client(), user.email, 1)

    response = ask(client, GOOD_PASSWORD, htmx=False)

    assert response.status_code == 429
    assert f'id="{form_id}"'.encode() in response.content
    assert LOCKED.encode() in response.content


def test_every_form_that_asks_for_the_current_password_checks_it_as_sign_in_does():
    # A new form with a current-password field that checked it some other way would be
    # an unlimited guessing oracle for whoever holds a session.
    asking = [
        form
        for form in vars(users_forms).values()
        if isinstance(form, type)
        and issubclass(form, forms.BaseForm)
        and form.__module__ == users_forms.__name__
        and any(
            field.widget.attrs.get("autocomplete") == "current-password"
            for field in form.base_fields.values()
        )
    ]

    assert {form.__name__ for form in asking} >= {
        "SignInForm",
        "AdminSignInForm",
        "PasswordChangeWithCheckForm",
        "AccountDeleteForm",
    }
    for form in asking:
        assert issubclass(form, (LockoutAuthenticationForm, CurrentPasswordCheck)), form


# ---------------------------------------------------------------- the admin's sign-in


def admin_sign_in(client, email: str, password: str, *, address: str = "192.0.2.1"):
    return client.post(
        reverse("admin:login"), {"username": email, "password": password}, REMOTE_ADDR=address
    )


def test_a_cooled_off_admin_sign_in_shows_the_admins_own_page(client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    boss = User.objects.create_superuser(email="boss@example.org", password=GOOD_PASSWORD)
    for _ in range(2):
        admin_sign_in(client, boss.email, "wrong-" + GOOD_PASSWORD)

    response = admin_sign_in(client, boss.email, GOOD_PASSWORD)

    assert response.status_code == 429
    templates = [template.name for template in response.templates]
    assert "admin/login.html" in templates
    assert "users/login.html" not in templates
    assert f"{LOCKED} Try again in 15 minutes." in response.content.decode()
    assert SESSION_KEY not in client.session


def test_an_office_behind_one_address_locks_out_neither_its_people_nor_the_admin(
    client, user, settings
):
    # The shipped limits; ten people behind one address, each failing four times.
    boss = User.objects.create_superuser(email="boss@example.org", password=GOOD_PASSWORD)
    for number in range(10):
        fail_times(client, f"colleague{number}@example.org", 4, address="192.0.2.50")

    assert sign_in(client, user.email, GOOD_PASSWORD, address="192.0.2.50")["HX-Redirect"] == "/"
    client.post(reverse("logout"))
    assert admin_sign_in(client, boss.email, GOOD_PASSWORD, address="192.0.2.50").status_code == 302


# ---------------------------------------------------------------- getting back in

NEW_PASSWORD = "quince-meadow-compass-77"


def reset_password(client, link: str) -> None:
    # Django's view moves the token from the URL into the session, then shows the form.
    form_url = client.get(link)["Location"]
    data = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    assert client.post(form_url, data)["Location"] == reverse("password_reset_complete")


def test_a_cooled_off_owner_gets_back_in_through_a_reset(client, user, settings, smtp_sink):
    # Ten requests: five wrong passwords cool the account off, five resets use up the
    # resets of its address. The emailed links still let the owner back in.
    for number in range(5):
        fail_times(client, user.email, 1, address=f"203.0.113.{number}")
        client.post(reverse("password_reset"), {"email": user.email}, REMOTE_ADDR="203.0.113.9")
    assert LOCKED.encode() in sign_in(client, user.email, GOOD_PASSWORD).content
    asked = client.post(reverse("password_reset"), {"email": user.email}, REMOTE_ADDR="192.0.2.1")
    assert "the newest one works" in asked.content.decode()

    reset_password(client, emailed_link(smtp_sink, to=user.email, path="/accounts/password/reset/"))

    assert sign_in(client, user.email, NEW_PASSWORD)["HX-Redirect"] == "/"


def test_resets_never_count_as_failed_sign_ins(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.PASSWORD_RESETS_PER_HOUR = 1
    bad_link = reverse("password_reset_confirm", args=["MQ", "not-a-token"])
    for _ in range(3):
        client.post(reverse("password_reset"), {"email": user.email}, REMOTE_ADDR="192.0.2.1")
        client.post(bad_link, {"new_password1": "x", "new_password2": "x"}, REMOTE_ADDR="192.0.2.1")

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
