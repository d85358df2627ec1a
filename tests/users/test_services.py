import pytest

from tests.conftest import GOOD_PASSWORD
from users.models import AccountEmail, User
from users.services import user_confirm_email, user_delete, user_sign_up

pytestmark = pytest.mark.django_db


def sign_up(email: str, password: str = GOOD_PASSWORD) -> User | None:
    return user_sign_up(email=email, password=password, language="en")


def test_a_new_address_gets_an_unconfirmed_account_and_a_confirmation_email():
    created = sign_up("new@example.org")

    assert created == User.objects.get()
    assert created.check_password(GOOD_PASSWORD)
    assert not created.email_verified
    [queued] = AccountEmail.objects.all()
    assert (queued.user, queued.kind) == (created, AccountEmail.Kind.VERIFY_ADDRESS)
    assert queued.status == AccountEmail.Status.QUEUED


def test_a_taken_address_makes_no_account_and_tells_its_owner(user):
    assert sign_up(user.email, "another-" + GOOD_PASSWORD) is None

    assert User.objects.get() == user
    user.refresh_from_db()
    assert user.check_password(GOOD_PASSWORD)
    [queued] = AccountEmail.objects.all()
    assert (queued.user, queued.kind) == (user, AccountEmail.Kind.SIGN_UP_ATTEMPT)


def test_the_owner_is_told_once_an_hour_however_many_try(user):
    for _ in range(5):
        sign_up(user.email)

    assert AccountEmail.objects.filter(kind=AccountEmail.Kind.SIGN_UP_ATTEMPT).count() == 1


def test_a_deactivated_account_is_not_told(user):
    User.objects.filter(pk=user.pk).update(is_active=False)

    sign_up(user.email)

    assert not AccountEmail.objects.exists()


def test_confirming_an_address_happens_once(unconfirmed_user):
    assert user_confirm_email(user=unconfirmed_user) is True
    first = unconfirmed_user.email_verified_at

    assert user_confirm_email(user=unconfirmed_user) is False
    unconfirmed_user.refresh_from_db()
    assert unconfirmed_user.email_verified_at == first


def test_deleting_an_account_keeps_its_messages_without_a_sender(user):
    from tests.contact.factories import make_message

    message = make_message(user)

    user_delete(user=user)

    message.refresh_from_db()
    assert message.sender is None
    assert message.sender_email == user.email
    assert not User.objects.exists()
