import pytest
from django.db import IntegrityError

from users.models import User

pytestmark = pytest.mark.django_db


def test_email_is_unique_regardless_of_case_in_the_database():
    User.objects.create_user(email="ann@example.org", password="x")

    with pytest.raises(IntegrityError):
        User.objects.create_user(email="ANN@example.org", password="x")


def test_natural_key_lookup_ignores_case(user):
    assert User.objects.get_by_natural_key("ann.lee@EXAMPLE.org") == user


def test_with_email_matches_only_the_same_address(user):
    assert list(User.objects.with_email("ANN.LEE@example.org")) == [user]
    assert not User.objects.with_email("ann.lee@example.com").exists()


def test_create_user_keeps_the_local_part_and_lowercases_the_domain():
    created = User.objects.create_user(email="Ann@Example.ORG", password="x")

    assert created.email == "Ann@example.org"
    assert not created.is_staff


def test_create_superuser_is_staff_and_superuser():
    admin = User.objects.create_superuser(email="boss@example.org", password="x")

    assert admin.is_staff and admin.is_superuser


def test_user_has_no_username_field():
    assert User.USERNAME_FIELD == "email"
    assert "username" not in {field.name for field in User._meta.get_fields()}
