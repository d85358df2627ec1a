import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from users.addresses import normalize_email
from users.models import User

pytestmark = pytest.mark.django_db

# Ways one address is typed, each the same account as "ann@example.org".
VARIANTS = [
    "ANN@example.org",
    "Ann@Example.ORG",
    "  ann@example.org ",
    "ａｎｎ@example.org",  # full-width letters
    "ANN@EXAMPLE.ORG\t",
]


@pytest.mark.parametrize("typed", VARIANTS)
def test_every_way_of_typing_an_address_normalises_to_one(typed):
    assert normalize_email(typed) == "ann@example.org"


def test_normalising_keeps_a_different_mailbox_different():
    # Case folding would make "straße" "strasse", someone else's address.
    assert normalize_email("Straße@example.org") == "straße@example.org"
    assert normalize_email("Kate@example.org") == normalize_email("\u212aate@example.org")


@pytest.mark.parametrize("typed", VARIANTS)
def test_the_database_refuses_a_second_account_for_any_variant(typed):
    User.objects.create_user(email="ann@example.org", password="x")

    with pytest.raises(IntegrityError):
        User.objects.create_user(email=typed, password="x")


def test_create_user_stores_the_normalised_address():
    created = User.objects.create_user(email="Ann@Example.ORG", password="x")

    assert created.email == "ann@example.org"
    assert not created.is_staff
    assert not created.email_verified


@pytest.mark.parametrize("typed", VARIANTS)
def test_natural_key_lookup_finds_the_account_from_any_variant(user, typed):
    User.objects.filter(pk=user.pk).update(email="ann@example.org")

    assert User.objects.get_by_natural_key(typed) == user


def test_a_model_form_normalises_and_refuses_a_variant_as_taken(user):
    # The admin's forms go through full_clean: clean() normalises before the unique check.
    other = User(email=user.email.upper(), password="x")

    with pytest.raises(ValidationError) as refused:
        other.full_clean()

    assert refused.value.message_dict["email"] == ["A user with this email already exists."]


def test_create_superuser_is_staff_and_superuser():
    admin = User.objects.create_superuser(email="boss@example.org", password="x")

    assert admin.is_staff and admin.is_superuser
    assert admin.email_verified


def test_user_has_no_username_field():
    assert User.USERNAME_FIELD == "email"
    assert "username" not in {field.name for field in User._meta.get_fields()}
