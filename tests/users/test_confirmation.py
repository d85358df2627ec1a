"""An address is confirmed by its owner signed in and following the emailed link; until
then the home page says what to do, and nothing can be written to the administrator."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from contact.models import Message
from outbox.models import Email
from outbox.reports import Report, ReportOutcome, email_report
from outbox.services import email_send
from tests.conftest import GOOD_PASSWORD, HTMX
from tests.users.mail import deliver_account_emails, emailed_link
from tests.users.test_admin import posted_fields
from users.models import AccountEmailKind, User
from users.services import account_email_queue, password_reset_queue, user_confirm_email
from users.tokens import SALT, verification_token

pytestmark = pytest.mark.django_db


def confirm_url(user) -> str:
    return reverse("email-confirm", args=[verification_token(user)])


def test_the_home_page_asks_an_unconfirmed_person_to_confirm_instead_of_the_form(
    client, unconfirmed_user
):
    client.force_login(unconfirmed_user)

    page = client.get(reverse("home")).content.decode()

    assert "Confirm your email address" in page
    assert unconfirmed_user.email in page
    assert "Send me a new link" in page
    assert 'id="message-form"' not in page


def test_the_message_endpoint_refuses_an_unconfirmed_sender(client, unconfirmed_user):
    client.force_login(unconfirmed_user)
    data = {"subject": "Hello", "body": "Is anyone there?"}

    plain = client.post(reverse("message-new"), data)
    htmx = client.post(reverse("message-new"), data, **HTMX)

    assert plain.status_code == 403
    assert htmx.status_code == 200
    assert "Confirm your email address first" in htmx.content.decode()
    assert not Message.objects.exists()


def test_the_link_asks_a_signed_out_person_to_sign_in_first(client, unconfirmed_user):
    url = confirm_url(unconfirmed_user)

    response = client.get(url)

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert (location.path, parse_qs(location.query)["next"]) == (reverse("login"), [url])


def test_opening_the_link_confirms_nothing_until_the_button_is_pressed(client, unconfirmed_user):
    # Mail scanners open links before people do.
    client.force_login(unconfirmed_user)

    page = client.get(confirm_url(unconfirmed_user))

    assert "Confirm my address" in page.content.decode()
    unconfirmed_user.refresh_from_db()
    assert not unconfirmed_user.email_verified


def test_the_emailed_link_signed_in_and_pressed_confirms_the_address(
    client, unconfirmed_user, smtp_sink
):
    account_email_queue(user=unconfirmed_user, kind=AccountEmailKind.VERIFY_ADDRESS, language="en")
    link = emailed_link(smtp_sink, to=unconfirmed_user.email, path="/accounts/confirm/")
    signed_in = client.post(
        f"{reverse('login')}?next={link}",
        {"username": unconfirmed_user.email.upper(), "password": GOOD_PASSWORD},
    )
    assert signed_in["Location"] == link

    pressed = client.post(link)

    assert pressed["Location"] == reverse("home")
    unconfirmed_user.refresh_from_db()
    assert unconfirmed_user.email_verified
    home = client.get(reverse("home")).content.decode()
    assert "Your email address is confirmed." in home
    assert 'id="message-form"' in home


def test_a_link_for_another_account_does_not_confirm(client, unconfirmed_user, user):
    client.force_login(unconfirmed_user)
    someone_elses = reverse("email-confirm", args=[verification_token(user)])

    response = client.post(someone_elses)

    assert response.status_code == 400
    assert "This link is not valid" in response.content.decode()
    unconfirmed_user.refresh_from_db()
    assert not unconfirmed_user.email_verified


@pytest.mark.parametrize("spoil", ["tampered", "expired", "other-address"])
def test_a_spoilt_link_does_not_confirm(client, unconfirmed_user, settings, spoil):
    token = verification_token(unconfirmed_user)
    if spoil == "tampered":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif spoil == "expired":
        settings.EMAIL_VERIFICATION_MAX_AGE = timedelta(seconds=-1)
    else:
        token = signing.dumps({"id": unconfirmed_user.pk, "email": "old@example.org"}, salt=SALT)
    client.force_login(unconfirmed_user)

    response = client.post(reverse("email-confirm", args=[token]))

    assert response.status_code == 400
    unconfirmed_user.refresh_from_db()
    assert not unconfirmed_user.email_verified


def test_a_used_link_changes_nothing_more(client, unconfirmed_user):
    client.force_login(unconfirmed_user)
    url = confirm_url(unconfirmed_user)
    client.post(url)
    unconfirmed_user.refresh_from_db()
    first = unconfirmed_user.email_verified_at

    again = client.get(url)

    assert "is confirmed" in again.content.decode()
    assert "Confirm my address" not in again.content.decode()
    client.post(url)
    unconfirmed_user.refresh_from_db()
    assert unconfirmed_user.email_verified_at == first


def test_a_used_link_stays_used_after_staff_clear_the_date(client, unconfirmed_user):
    client.force_login(unconfirmed_user)
    url = confirm_url(unconfirmed_user)
    client.post(url)
    staff = Client()
    staff.force_login(User.objects.create_superuser(email="boss@example.org", password="x"))
    change = reverse("admin:users_user_change", args=[unconfirmed_user.pk])
    data = posted_fields(staff.get(change).content.decode(), "user_form")
    assert staff.post(change, {**data, "email_verified_at": ""}).status_code == 302

    opened = client.get(url).content.decode()
    pressed = client.post(url)

    assert "This link is not valid: it has been used" in opened
    assert "Send me a new link" in opened
    assert pressed.status_code == 400
    unconfirmed_user.refresh_from_db()
    assert not unconfirmed_user.email_verified
    # A new link works, once.
    client.post(reverse("email-confirm-resend"))
    fresh = confirm_url(unconfirmed_user)
    assert client.post(fresh)["Location"] == reverse("home")
    unconfirmed_user.refresh_from_db()
    assert unconfirmed_user.email_verified


def test_any_confirmation_ends_every_link_sent_before(client, unconfirmed_user):
    # A password reset confirms the address too, without the link.
    url = confirm_url(unconfirmed_user)
    user_confirm_email(user=unconfirmed_user)
    User.objects.filter(pk=unconfirmed_user.pk).update(email_verified_at=None)
    client.force_login(unconfirmed_user)

    assert client.post(url).status_code == 400


def test_a_new_link_is_queued_on_request_and_limited_per_account(
    client, unconfirmed_user, settings
):
    settings.CONFIRMATION_RESENDS_PER_HOUR = 2
    client.force_login(unconfirmed_user)
    url = reverse("email-confirm-resend")

    answers = [client.post(url, **HTMX).content.decode() for _ in range(3)]

    assert f"We sent a new link to {unconfirmed_user.email}." in answers[0]
    assert "You have asked for 2 new links in the last hour." in answers[2]
    assert unconfirmed_user.emails.filter(kind=AccountEmailKind.VERIFY_ADDRESS).count() == 2
    # The panel swaps itself: it is the answer's outer element.
    assert answers[0].lstrip().startswith('<section id="confirmation-pending"')


def test_a_plain_post_for_a_new_link_goes_home_with_the_notice(client, unconfirmed_user):
    client.force_login(unconfirmed_user)

    response = client.post(reverse("email-confirm-resend"), follow=True)

    assert f"We sent a new link to {unconfirmed_user.email}." in response.content.decode()


def test_an_unconfirmed_sender_is_not_looked_up_in_the_directory(
    user, directory, smtp_sink, settings
):
    from tests.contact.factories import make_message

    message = make_message(user, sender_email_confirmed=False)

    email_send(email_id=message.email_id)

    message.refresh_from_db()
    assert message.directory_status == Message.DirectoryStatus.UNCONFIRMED
    assert directory.requests == []
    [sent] = smtp_sink.received
    assert not list(sent.message.iter_attachments())
    assert "not looked up" in sent.message.get_body(("plain",)).get_content()


# ---------------------------------------------------------------- a link that never came

UNDELIVERED = "We could not deliver the link to that address."


def home_page(client) -> str:
    return client.get(reverse("home")).content.decode()


def bounce(email: Email) -> ReportOutcome:
    """The provider's report that `email` bounced, as its webhook passes it on."""
    return email_report(
        Report(
            provider="postmark",
            event_type="bounced",
            event_id=f"bounce-{email.pk}",
            provider_message_id=None,
            site_email_id=str(email.pk),
            occurred_at=timezone.now(),
            detail="550 5.1.1 No such mailbox",
        )
    )


def test_the_panel_says_when_the_link_bounced(client, smtp_sink):
    client.post(
        reverse("register"),
        {"email": "typo@example.org", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD},
    )
    person = User.objects.get()
    assert deliver_account_emails() == 1
    client.force_login(person)
    assert UNDELIVERED not in home_page(client)

    assert bounce(person.emails.get()) == ReportOutcome.APPLIED

    page = home_page(client)
    assert UNDELIVERED in page
    assert 'id="confirmation-pending"' in page
    # A new link is on its way: the panel stops saying the last one did not arrive.
    client.post(reverse("email-confirm-resend"))
    assert UNDELIVERED not in home_page(client)


@pytest.mark.parametrize(
    ("newest", "said"),
    [
        (Email.Status.BOUNCED, True),
        (Email.Status.FAILED, True),
        (Email.Status.QUEUED, False),
        (Email.Status.SENDING, False),
        (Email.Status.SENT, False),
        (Email.Status.DEFERRED, False),
        (Email.Status.DELIVERED, False),
    ],
)
def test_the_panel_speaks_of_the_newest_link_alone(client, unconfirmed_user, newest, said):
    older, newer = (
        account_email_queue(
            user=unconfirmed_user, kind=AccountEmailKind.VERIFY_ADDRESS, language="en"
        )
        for _ in range(2)
    )
    # The one before did not get through, whatever became of the newest.
    Email.objects.filter(pk=older.pk).update(status=Email.Status.FAILED)
    Email.objects.filter(pk=newer.pk).update(status=newest)
    client.force_login(unconfirmed_user)

    page = home_page(client)

    assert (UNDELIVERED in page) is said
    assert unconfirmed_user.confirmation_undelivered is said


def test_the_panel_says_nothing_of_other_emails_that_did_not_get_through(client, unconfirmed_user):
    account_email_queue(user=unconfirmed_user, kind=AccountEmailKind.VERIFY_ADDRESS, language="en")
    for kind in (AccountEmailKind.SIGN_UP_ATTEMPT, AccountEmailKind.PASSWORD_RESET):
        account_email_queue(user=unconfirmed_user, kind=kind, language="en")
    password_reset_queue(address=unconfirmed_user.email, language="en")
    Email.objects.exclude(kind=AccountEmailKind.VERIFY_ADDRESS).update(status=Email.Status.BOUNCED)
    client.force_login(unconfirmed_user)

    assert UNDELIVERED not in home_page(client)


def test_the_panel_says_nothing_before_any_link_was_sent(client, unconfirmed_user):
    client.force_login(unconfirmed_user)

    assert UNDELIVERED not in home_page(client)


def test_the_panel_speaks_in_the_persons_language(client, unconfirmed_user):
    sent = account_email_queue(
        user=unconfirmed_user, kind=AccountEmailKind.VERIFY_ADDRESS, language="ru"
    )
    Email.objects.filter(pk=sent.pk).update(status=Email.Status.BOUNCED)
    client.force_login(unconfirmed_user)

    page = client.get(reverse("home"), headers={"Accept-Language": "ru"}).content.decode()

    assert "Нам не удалось доставить ссылку на этот адрес." in page
