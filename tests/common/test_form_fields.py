"""Every field of every form refuses input over its limit before converting it: a 2.4 MB
address of a character NFKC makes eighteen of is refused without being normalised."""

import unicodedata

import pytest
from django import forms
from django.contrib.auth import password_validation
from django.urls import reverse
from django.utils import translation

import contact.forms
import users.forms
from common.form_fields import BoundedCharField
from tests.conftest import GOOD_PASSWORD

# 800,000 characters, 2.4 MB as UTF-8: "﷽" is one character that NFKC makes eighteen.
HUGE = "\ufdfd" * 800_000
TOO_LONG = "Ensure this value has at most {limit} characters (it has 800000)."

FORM_CLASSES = [
    value
    for module in (users.forms, contact.forms)
    for value in vars(module).values()
    if isinstance(value, type)
    and issubclass(value, forms.BaseForm)
    and value.__module__ == module.__name__
]


@pytest.fixture
def normalised(monkeypatch) -> list[int]:
    """The length of every string Unicode-normalised while the test runs."""
    lengths: list[int] = []
    normalize = unicodedata.normalize

    def spy(form: str, text: str) -> str:
        lengths.append(len(text))
        # Kept cheap where the site would be slow: the test is told by the lengths.
        return normalize(form, text) if len(text) <= 1000 else text

    monkeypatch.setattr(unicodedata, "normalize", spy)
    return lengths


@pytest.fixture
def checked_passwords(monkeypatch) -> list[int]:
    """The length of every password held to the password rules while the test runs."""
    lengths: list[int] = []
    validate = password_validation.validate_password

    def spy(password: str, *args: object, **kwargs: object) -> None:
        lengths.append(len(password))
        if len(password) <= 1000:
            validate(password, *args, **kwargs)

    monkeypatch.setattr(password_validation, "validate_password", spy)
    return lengths


# ---------------------------------------------------------------- the field


class Shouted(BoundedCharField):
    """A field with a conversion of its own, which records what it is given."""

    converted: list[str]

    def to_python(self, value: object) -> str | None:
        text = super().to_python(value)
        self.converted.append(str(text))
        return str(text).upper()


def test_text_over_the_limit_is_refused_before_the_conversion():
    field = Shouted(max_length=5)
    field.converted = []

    # In English whatever language an earlier test left active.
    with translation.override("en"), pytest.raises(forms.ValidationError) as refused:
        field.clean("abcdef")

    assert refused.value.messages == ["Ensure this value has at most 5 characters (it has 6)."]
    assert refused.value.error_list[0].code == "max_length"
    assert field.converted == []


def test_text_within_the_limit_is_stripped_then_converted():
    field = Shouted(max_length=5)
    field.converted = []

    assert field.clean("  abcde  ") == "ABCDE"
    assert field.converted == ["abcde"]


@pytest.mark.parametrize("form_class", FORM_CLASSES, ids=lambda form_class: form_class.__name__)
def test_every_field_of_every_form_is_bounded(form_class):
    # Each form's first argument is its data, or the request or the account it is for.
    fields = form_class(None).fields

    assert fields
    for name, field in fields.items():
        assert isinstance(field, BoundedCharField), name
        assert field.max_length, name


# ---------------------------------------------------------------- every form, over HTTP


def post(client, name: str, data: dict[str, str], field: str) -> str:
    """Post `data` to the page or validation endpoint `name`; the answer's text."""
    response = client.post(reverse(name), {**data, "_touched": [field]})
    assert response.status_code == 200
    if name.endswith("validate"):
        return " ".join(response.json()["errors"].get(field, []))
    return response.content.decode()


ADDRESSES = [
    ("login", "username", {"password": GOOD_PASSWORD}),
    ("login-validate", "username", {"password": GOOD_PASSWORD}),
    ("admin:login", "username", {"password": GOOD_PASSWORD}),
    ("register", "email", {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}),
    ("register-validate", "email", {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}),
    ("password_reset", "email", {}),
    ("password_reset_validate", "email", {}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "field", "data"), ADDRESSES, ids=[case[0] for case in ADDRESSES])
def test_a_huge_address_is_refused_unnormalised(client, normalised, name, field, data):
    answer = post(client, name, {**data, field: HUGE}, field)

    assert TOO_LONG.format(limit=254) in answer
    assert max(normalised, default=0) <= 254


MESSAGE_FIELDS = [
    ("message-new", "subject", 150),
    ("message-new", "body", 5000),
    ("message-new-validate", "subject", 150),
    ("message-new-validate", "body", 5000),
]


@pytest.mark.parametrize(("name", "field", "limit"), MESSAGE_FIELDS)
def test_a_huge_message_field_is_refused(client, user, normalised, name, field, limit):
    client.force_login(user)

    answer = post(client, name, {"subject": "Hello", "body": "Hello", field: HUGE}, field)

    assert TOO_LONG.format(limit=limit) in answer
    assert max(normalised, default=0) <= 254


PASSWORDS = [
    ("login", "password", {"username": "ann.lee@example.org"}),
    ("register", "password1", {"email": "new@example.org", "password2": GOOD_PASSWORD}),
    ("register-validate", "password1", {"email": "new@example.org", "password2": GOOD_PASSWORD}),
    ("password_reset_new_validate", "new_password1", {"new_password2": GOOD_PASSWORD}),
    ("password_change_validate", "old_password", {}),
    ("password_change_validate", "new_password1", {"new_password2": GOOD_PASSWORD}),
    ("account_delete_validate", "password", {}),
]


@pytest.mark.parametrize(("name", "field", "data"), PASSWORDS)
def test_a_huge_password_is_refused_unchecked(
    client, user, checked_passwords, name, field, data: dict[str, str]
):
    if name != "login":
        client.force_login(user)

    answer = post(client, name, {**data, field: HUGE}, field)

    assert TOO_LONG.format(limit=users.forms.PASSWORD_MAX_LENGTH) in answer
    assert max(checked_passwords, default=0) <= users.forms.PASSWORD_MAX_LENGTH
