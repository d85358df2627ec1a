import pytest

from users.models import User

# A password that passes every AUTH_PASSWORD_VALIDATORS rule.
GOOD_PASSWORD = "plum-harbour-lantern-42"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def user(db) -> User:
    return User.objects.create_user(email="Ann.Lee@example.org", password=GOOD_PASSWORD)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Production hashing is slow by design; tests only need hashing to be correct.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
