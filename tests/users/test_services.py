import pytest

from tests.conftest import GOOD_PASSWORD
from users.models import User
from users.services import EmailAlreadyRegistered, user_register

pytestmark = pytest.mark.django_db


def test_user_register_creates_an_account_that_can_sign_in():
    created = user_register(email="new@example.org", password=GOOD_PASSWORD)

    assert User.objects.get() == created
    assert created.check_password(GOOD_PASSWORD)


def test_user_register_reports_a_lost_race_for_the_same_address(user):
    # The form's check passed for both sign-ups; the database settles it.
    with pytest.raises(EmailAlreadyRegistered):
        user_register(email=user.email.upper(), password=GOOD_PASSWORD)

    assert User.objects.count() == 1
