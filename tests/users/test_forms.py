import pytest
from django.core.exceptions import ValidationError

from tests.conftest import GOOD_PASSWORD, make_person
from users.forms import PasswordResetRequestForm, RegistrationForm, SignInForm
from users.models import User

pytestmark = pytest.mark.django_db


def registration(**overrides):
    data = {"email": "new@example.org", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    return RegistrationForm(data={**data, **overrides})


def test_registration_accepts_a_new_email_and_a_good_password():
    form = registration()

    assert form.is_valid(), form.errors
    assert form.cleaned_data["email"] == "new@example.org"


def test_registration_labels():
    labels = [field.label for field in RegistrationForm()]

    assert labels == ["Email", "Password", "Password confirmation"]


def test_registration_never_says_an_address_is_taken(user):
    form = registration(email=user.email.swapcase())

    assert form.is_valid(), form.errors


def test_registration_gives_the_address_in_its_one_stored_form():
    form = registration(email="  ＡＮＮ.Lee@Example.ORG ")

    assert form.is_valid(), form.errors
    assert form.cleaned_data["email"] == "ann.lee@example.org"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short-pw1", "This password is too short. It must contain at least 12 characters."),
        ("password1234", "This password is too common."),
        ("830274619502", "This password is entirely numeric."),
        ("new@example.org1", "The password is too similar to the email."),
    ],
)
def test_registration_reports_weak_passwords_on_the_password_field(password, message):
    form = registration(password1=password, password2=password)

    assert message in form.errors["password1"]
    assert "password2" not in form.errors


def test_registration_reports_a_mismatched_confirmation_on_the_confirmation():
    form = registration(password2=GOOD_PASSWORD + "x")

    assert form.errors == {"password2": ["The two passwords do not match."]}


def test_registration_requires_every_field():
    form = RegistrationForm(data={})

    assert set(form.errors) == {"email", "password1", "password2"}


def test_sign_in_labels():
    assert [field.label for field in SignInForm()] == ["Email", "Password"]


def test_sign_in_accepts_the_right_password_in_any_email_case(user, rf):
    form = SignInForm(
        rf.post("/accounts/login/"),
        data={"username": user.email.upper(), "password": GOOD_PASSWORD},
    )

    assert form.is_valid(), form.errors
    assert form.get_user() == user


@pytest.mark.parametrize("email", ["ann.lee@example.org", "nobody@example.org"])
def test_sign_in_gives_one_message_for_wrong_password_and_unknown_email(user, email, rf):
    form = SignInForm(
        rf.post("/accounts/login/"), data={"username": email, "password": "not-the-password"}
    )

    assert form.errors == {"__all__": ["Enter a correct email and password."]}


def test_sign_in_without_credential_check_validates_fields_only(user):
    form = SignInForm(
        data={"username": user.email, "password": "not-the-password"}, check_credentials=False
    )

    assert form.is_valid()
    assert form.get_user() is None


def test_registration_reports_a_weak_password_and_a_mismatch_together():
    form = registration(password1="short", password2="other")

    assert "This password is too short." in form.errors["password1"][0]
    assert form.errors["password2"] == ["The two passwords do not match."]


@pytest.mark.parametrize(
    "address", ['"a,b"@example.org', '"<x@evil.org>"@example.org', '"a\x01b"@example.org']
)
def test_registration_refuses_quoted_and_control_character_addresses(address):
    form = registration(email=address)

    assert form.errors["email"] == ["Use an address without quotation marks or control characters."]


def test_sign_in_still_takes_an_unusual_address_of_an_older_account(rf):
    make_person('"a,b"@example.org')
    form = SignInForm(
        rf.post("/"), data={"username": '"a,b"@example.org', "password": GOOD_PASSWORD}
    )

    assert form.is_valid(), form.errors


# ---------------------------------------------------------------- an address at a domain name

NO_DOMAIN_NAME = "Use an address at a domain name, such as name@example.org."
NOT_AT_A_DOMAIN_NAME = ["x@localhost", "X@LocalHost", "x@[127.0.0.1]", "x@[::1]"]


@pytest.mark.parametrize("address", NOT_AT_A_DOMAIN_NAME)
def test_registration_refuses_an_address_without_a_domain_name(address):
    assert registration(email=address).errors["email"] == [NO_DOMAIN_NAME]


@pytest.mark.parametrize("address", NOT_AT_A_DOMAIN_NAME)
def test_a_reset_refuses_an_address_without_a_domain_name(address):
    form = PasswordResetRequestForm(data={"email": address})

    assert form.errors["email"] == [NO_DOMAIN_NAME]


@pytest.mark.parametrize("address", ["x@", "x@.org", "nobody", "x@mailhost"])
def test_a_malformed_address_gets_one_message(address):
    assert registration(email=address).errors["email"] == ["Enter a valid email address."]


@pytest.mark.parametrize("address", ["x@example.org", "x@mail.example.co.uk", "x@пример.рф"])
def test_an_address_at_a_domain_name_is_taken(address):
    assert registration(email=address).is_valid()
    assert PasswordResetRequestForm(data={"email": address}).is_valid()


@pytest.mark.parametrize("address", ["x@localhost", "x@[127.0.0.1]", "x@[::1]"])
def test_the_user_model_refuses_an_address_without_a_domain_name(address):
    # The admin's forms and createsuperuser check through the model.
    with pytest.raises(ValidationError) as refused:
        User(email=address).clean_fields(exclude=["password"])

    assert refused.value.message_dict["email"] == [NO_DOMAIN_NAME]


def test_sign_in_still_takes_an_older_account_at_a_bare_host_name(rf):
    User.objects.create_user(email="old@localhost", password=GOOD_PASSWORD)
    form = SignInForm(rf.post("/"), data={"username": "old@localhost", "password": GOOD_PASSWORD})

    assert form.is_valid(), form.errors
