from datetime import timedelta

import pytest
from django.utils import timezone

from outbox.models import Email
from tests.conftest import GOOD_PASSWORD
from users.models import AccountEmailKind, User
from users.services import (
    SIGN_UP_NOTICE_INTERVAL,
    password_reset_account,
    password_reset_queue,
    user_confirm_email,
    user_delete,
    user_sign_up,
)

pytestmark = pytest.mark.django_db


def sign_up(email: str, password: str = GOOD_PASSWORD) -> User | None:
    return user_sign_up(email=email, password=password, language="en")


def test_a_new_address_gets_an_unconfirmed_account_and_a_confirmation_email():
    created = sign_up("new@example.org")

    assert created == User.objects.get()
    assert created.check_password(GOOD_PASSWORD)
    assert not created.email_verified
    [queued] = Email.objects.all()
    assert (queued.user, queued.kind) == (created, AccountEmailKind.VERIFY_ADDRESS)
    assert (queued.to, queued.language) == ("new@example.org", "en")
    assert queued.status == Email.Status.QUEUED


def test_a_taken_address_makes_no_account_and_tells_its_owner(user):
    assert sign_up(user.email, "another-" + GOOD_PASSWORD) is None

    assert User.objects.get() == user
    user.refresh_from_db()
    assert user.check_password(GOOD_PASSWORD)
    [queued] = Email.objects.all()
    assert (queued.user, queued.kind) == (user, AccountEmailKind.SIGN_UP_ATTEMPT)


def test_the_owner_is_told_once_an_hour_however_many_try(user):
    for _ in range(5):
        sign_up(user.email)

    assert Email.objects.filter(kind=AccountEmailKind.SIGN_UP_ATTEMPT).count() == 1


def test_the_owner_is_told_again_once_the_hour_is_over(user):
    sign_up(user.email)
    Email.objects.update(created_at=timezone.now() - SIGN_UP_NOTICE_INTERVAL - timedelta(minutes=1))

    sign_up(user.email)

    assert user.emails.filter(kind=AccountEmailKind.SIGN_UP_ATTEMPT).count() == 2


def test_a_deactivated_account_is_not_told(user):
    User.objects.filter(pk=user.pk).update(is_active=False)

    sign_up(user.email)

    assert not Email.objects.exists()


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
    # The message's email stays with it: it went to the administrator, not the account.
    assert Email.objects.filter(pk=message.email_id).exists()
    assert not User.objects.exists()


def test_deleting_an_account_deletes_the_emails_sent_to_it(user):
    user_sign_up(email=user.email, password=GOOD_PASSWORD, language="en")
    assert user.emails.exists()
    someone_elses = password_reset_queue(address="someone@example.org", language="en")

    user_delete(user=user)

    assert list(Email.objects.all()) == [someone_elses]


def test_a_reset_is_queued_for_the_address_and_names_no_account(user):
    queued = password_reset_queue(address=user.email, language="ru")

    assert (queued.kind, queued.to, queued.user, queued.language) == (
        AccountEmailKind.PASSWORD_RESET,
        user.email,
        None,
        "ru",
    )
    assert queued.status == Email.Status.QUEUED


def test_a_reset_goes_only_to_an_active_account_with_a_usable_password(user):
    User.objects.create_user(email="no.password@example.org")
    User.objects.create_user(email="inactive@example.org", password=GOOD_PASSWORD, is_active=False)

    assert password_reset_account(user.email) == user
    assert password_reset_account("no.password@example.org") is None
    assert password_reset_account("inactive@example.org") is None
    assert password_reset_account("nobody@example.org") is None
