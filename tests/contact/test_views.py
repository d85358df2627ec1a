import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from contact.models import Message
from outbox.models import Email, EmailEvent
from tests.conftest import HTMX, make_person
from tests.contact.factories import make_message

pytestmark = pytest.mark.django_db


def test_home_invites_a_visitor_to_sign_up_or_sign_in(client):
    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert f'href="{reverse("register")}"'.encode() in response.content
    assert f'href="{reverse("login")}"'.encode() in response.content
    assert b'id="message-form"' not in response.content


def test_home_shows_a_signed_in_person_the_message_form(client, user):
    client.force_login(user)

    response = client.get(reverse("home"))

    assert b'id="message-form"' in response.content
    assert b">Subject<" in response.content
    assert b">Message<" in response.content
    assert user.email.encode() in response.content


def test_pages_load_scripts_from_this_site_only(client):
    html = client.get(reverse("home")).content.decode()

    sources = re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
    assert sources, "the page loads no scripts"
    assert all(source.startswith("/static/") for source in sources), sources


def test_pages_send_the_csrf_token_with_every_htmx_request(client):
    html = client.get(reverse("home")).content.decode()

    assert re.search(r"""<body hx-headers='\{"X-CSRFToken": "\w+"\}'>""", html)


def test_the_token_field_is_in_full_pages_and_not_in_htmx_answers(client, user):
    client.force_login(user)

    page = client.get(reverse("home")).content.decode()
    answer = client.post(reverse("message-new"), {"subject": "", "body": ""}, **HTMX)

    assert 'name="csrfmiddlewaretoken"' in page
    assert answer.status_code == 200 and 'id="message-form"' in answer.content.decode()
    assert 'name="csrfmiddlewaretoken"' not in answer.content.decode()


# ---------------------------------------------------------------- writing a message

VALID = {"subject": "Question about my order", "body": "Where is my parcel?"}


def test_a_message_sent_by_htmx_is_confirmed_and_the_form_cleared(client, user):
    client.force_login(user)

    response = client.post(reverse("message-new"), VALID, **HTMX)

    assert response.status_code == 200
    message = Message.objects.get()
    assert (message.sender, message.subject, message.body) == (user, *VALID.values())
    html = response.content.decode()
    assert html.lstrip().startswith("<form")
    assert "Your message “Question about my order” is on its way to the administrator." in html
    assert 'name="subject"' in html and 'value="Question' not in html
    assert "Where is my parcel?" not in html


def test_the_confirmation_goes_to_the_page_status_line_out_of_band(client, user):
    client.force_login(user)

    page = client.get(reverse("home")).content.decode()
    html = client.post(reverse("message-new"), VALID, **HTMX).content.decode()

    assert '<div id="message-status" role="status"></div>' in page
    status = html[html.index('<div id="message-status" hx-swap-oob="innerHTML">') :]
    assert "Your message “Question about my order” is on its way to the administrator." in status
    # It leads to the message itself, and takes the focus once swapped in.
    message = Message.objects.get()
    assert f'<a href="{reverse("message-detail", args=[message.pk])}">Follow it</a>' in status
    assert "data-focus-after-swap" in status
    # The form swapped in holds no confirmation of its own.
    assert html.index("</form>") < html.index('id="message-status"')


def test_the_blank_form_is_rendered_once_per_language(client, user):
    client.force_login(user)
    client.post(reverse("message-new"), VALID, **HTMX)

    again = client.post(reverse("message-new"), VALID, **HTMX)
    in_russian = client.post(reverse("message-new"), VALID, HTTP_ACCEPT_LANGUAGE="ru", **HTMX)

    rendered = [template.name for template in again.templates]
    assert "partials/message_sent.html" in rendered
    assert "partials/message_form.html" not in rendered
    assert "partials/message_form.html" in [template.name for template in in_russian.templates]
    assert again.content.decode().count('name="subject"') == 1


def test_the_blank_form_for_the_next_message_follows_the_language(client, user):
    client.force_login(user)
    client.post(reverse("message-new"), VALID, **HTMX)

    response = client.post(reverse("message-new"), VALID, HTTP_ACCEPT_LANGUAGE="ru", **HTMX)

    html = response.content.decode()
    assert ">Тема</label>" in html and ">Subject</label>" not in html


def test_a_message_sent_by_plain_post_redirects_home_with_the_confirmation(client, user):
    client.force_login(user)

    response = client.post(reverse("message-new"), VALID, follow=True)

    assert response.redirect_chain == [(reverse("home"), 302)]
    assert (
        "Your message “Question about my order” is on its way to the administrator."
        in response.content.decode()
    )
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"subject": "Two\r\nlines", "body": "x"}, "subject", "The subject must be a single line."),
        ({"subject": "x" * 151, "body": "x"}, "subject", "at most 150 characters"),
        ({"subject": "Hi", "body": "x" * 5001}, "body", "at most 5000 characters"),
        ({"subject": "", "body": "x"}, "subject", "This field is required."),
        ({"subject": "Hi", "body": "   "}, "body", "This field is required."),
    ],
)
def test_invalid_messages_show_the_error_beside_the_field(client, user, data, field, error):
    client.force_login(user)

    response = client.post(reverse("message-new"), data, **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    error_list = html.split(f'id="id_{field}_error"', 1)[1].split("</ul>", 1)[0]
    assert error in error_list
    assert not Message.objects.exists()


def test_an_anonymous_plain_post_is_sent_to_sign_in(client, db):
    response = client.post(reverse("message-new"), VALID)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={reverse('message-new')}"
    assert not Message.objects.exists()


def test_an_anonymous_htmx_post_is_sent_to_sign_in_with_hx_redirect(client, db):
    response = client.post(reverse("message-new"), VALID, **HTMX)

    assert response["HX-Redirect"].startswith(reverse("login"))
    assert not Message.objects.exists()


def test_message_validation_reports_touched_fields(client, user):
    client.force_login(user)

    response = client.post(
        reverse("message-new-validate"),
        {"subject": "Line\nbreak", "body": "", "_touched": ["subject"]},
    )

    assert response.json() == {"errors": {"subject": ["The subject must be a single line."]}}
    assert not Message.objects.exists()


def test_message_validation_needs_a_signed_in_person(client, db):
    response = client.post(reverse("message-new-validate"), {"subject": "x"})

    assert response.status_code == 302


# ---------------------------------------------------------------- the hourly limit

LIMITED = "You have sent 2 messages in the last hour."


def test_messages_are_limited_per_person_per_hour(client, user, settings):
    settings.MESSAGES_PER_HOUR = 2
    client.force_login(user)
    for _ in range(2):
        client.post(reverse("message-new"), VALID, **HTMX)

    response = client.post(reverse("message-new"), VALID, **HTMX)

    assert response.status_code == 200
    assert LIMITED in response.content.decode()
    assert Message.objects.count() == 2


def test_a_limited_plain_post_gets_429(client, user, settings):
    settings.MESSAGES_PER_HOUR = 1
    client.force_login(user)
    client.post(reverse("message-new"), VALID)

    response = client.post(reverse("message-new"), VALID)

    assert response.status_code == 429
    assert "You have sent 1 message in the last hour." in response.content.decode()


def test_messages_older_than_an_hour_do_not_count(client, user, settings):
    settings.MESSAGES_PER_HOUR = 1
    make_message(user, created_at=timezone.now() - timedelta(minutes=61))
    client.force_login(user)

    response = client.post(reverse("message-new"), VALID, **HTMX)

    assert "is on its way" in response.content.decode()


def test_one_persons_limit_is_not_anothers(client, user, settings):
    settings.MESSAGES_PER_HOUR = 1
    make_message(user)
    other = make_person("other@example.org", "x")
    client.force_login(other)

    response = client.post(reverse("message-new"), VALID, **HTMX)

    assert "is on its way" in response.content.decode()


def test_scripts_in_a_message_are_shown_as_text(client, user):
    client.force_login(user)

    response = client.post(
        reverse("message-new"), {"subject": "<script>alert(1)</script>", "body": "x"}, **HTMX
    )

    html = response.content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# ---------------------------------------------------------------- my messages


def test_my_messages_lists_only_the_persons_own_newest_first(client, user):
    other = make_person("other@example.org", "x")
    make_message(other, subject="Not yours")
    older = make_message(user, subject="Older", created_at=timezone.now() - timedelta(hours=1))
    newer = make_message(user, subject="Newer", status=Email.Status.SENT)
    client.force_login(user)

    response = client.get(reverse("message-list"))

    assert [m.pk for m in response.context["object_list"]] == [newer.pk, older.pk]
    html = response.content.decode()
    assert "Not yours" not in html
    assert html.index("Newer") < html.index("Older")


def test_my_messages_polls_while_a_message_is_on_its_way(client, user):
    make_message(user, status=Email.Status.QUEUED)
    client.force_login(user)

    html = client.get(reverse("message-list"), **HTMX).content.decode()

    assert html.lstrip().startswith("<section")
    assert 'hx-trigger="every 3s"' in html


def test_my_messages_stops_polling_once_every_message_is_final(client, user):
    make_message(user, status=Email.Status.SENT)
    make_message(user, status=Email.Status.FAILED)
    client.force_login(user)

    html = client.get(reverse("message-list"), **HTMX).content.decode()

    assert "hx-trigger" not in html


def test_with_a_provider_reporting_a_sent_message_is_asked_for_every_half_minute(
    client, user, settings
):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {"WEBHOOK_SECRET": ["tracker:secret"]}
    sent = make_message(user, status=Email.Status.SENT)
    make_message(user, status=Email.Status.DELIVERED)
    client.force_login(user)

    def trigger(url: str) -> str | None:
        html = client.get(url, **HTMX).content.decode()
        found = re.search(r'hx-trigger="([^"]*)"', html)
        return found[1] if found else None

    assert trigger(reverse("message-list")) == "every 30s"
    assert trigger(reverse("message-detail", args=[sent.pk])) == "every 30s"
    # Reported on: nothing can change any more.
    Email.objects.filter(pk=sent.email_id).update(status=Email.Status.BOUNCED)
    assert trigger(reverse("message-list")) is None
    # A day on, a report is no longer waited for.
    Email.objects.filter(pk=sent.email_id).update(status=Email.Status.SENT)
    Message.objects.filter(pk=sent.pk).update(created_at=timezone.now() - timedelta(days=2))
    assert trigger(reverse("message-list")) is None
    # Over plain SMTP no report ever comes.
    Message.objects.filter(pk=sent.pk).update(created_at=timezone.now())
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert trigger(reverse("message-list")) is None


def test_my_messages_is_paginated(client, user):
    for number in range(25):
        make_message(user, subject=f"Message {number}")
    client.force_login(user)

    first = client.get(reverse("message-list"))
    second = client.get(reverse("message-list"), {"page": 2})

    assert len(first.context["object_list"]) == 20
    assert len(second.context["object_list"]) == 5


def test_my_messages_needs_a_signed_in_person(client, db):
    response = client.get(reverse("message-list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_my_messages_tells_caches_the_page_and_the_list_differ(client, user):
    client.force_login(user)

    assert "HX-Request" in client.get(reverse("message-list"))["Vary"]


def test_my_messages_says_where_each_is_in_the_confirmations_words(client, user):
    make_message(user, subject="Waiting", status=Email.Status.QUEUED)
    make_message(user, subject="Busy", status=Email.Status.SENDING, attempts=1)
    make_message(user, subject="Done", status=Email.Status.SENT, attempts=1)
    make_message(user, subject="Lost", status=Email.Status.FAILED, attempts=5)
    client.force_login(user)

    html = client.get(reverse("message-list")).content.decode()

    statuses = dict(
        re.findall(
            r'<a href="/messages/\d+/">(\w+)</a>.*?class="status [^"]+">([^<]+)<', html, re.S
        )
    )
    assert statuses == {
        "Waiting": "On its way",
        "Busy": "On its way",
        "Done": "Sent",
        "Lost": "Not delivered",
    }


# ---------------------------------------------------------------- one message


def test_a_message_opens_with_its_text_and_timeline(client, user):
    message = make_message(
        user, subject="Opening hours", body="Are you open\non Sunday?", status=Email.Status.SENT
    )
    # The attempt that sent it, on its email's timeline.
    EmailEvent.objects.create(
        email=message.email,
        kind=EmailEvent.Kind.ATTEMPT,
        event_type="sent",
        status=Email.Status.SENT,
        applied=True,
    )
    client.force_login(user)

    response = client.get(reverse("message-detail", args=[message.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Opening hours</h1>" in html
    assert "Are you open\non Sunday?" in html
    assert "Handed to the administrator&#x27;s mail server." in html
    assert "hx-trigger" not in html


def test_a_message_on_its_way_polls_its_progress_alone(client, user):
    message = make_message(user, status=Email.Status.QUEUED)
    client.force_login(user)

    html = client.get(reverse("message-detail", args=[message.pk]), **HTMX).content.decode()

    assert html.lstrip().startswith('<section id="message-progress"')
    assert 'hx-trigger="every 3s"' in html
    assert "Waiting to be sent." in html


def test_a_failed_message_says_what_the_person_can_do(client, user):
    message = make_message(
        user, status=Email.Status.FAILED, attempts=5, last_error="550 5.1.1 <admin@x> unknown"
    )
    client.force_login(user)

    html = client.get(reverse("message-detail", args=[message.pk])).content.decode()

    assert "Not delivered" in html
    assert "the site gave up after 5 attempts" in html
    assert "What you can do" in html
    # The mail server's own words are the staff's, not the person's.
    assert "550" not in html


def test_someone_elses_message_is_not_found(client, user):
    message = make_message(make_person("other@example.org"), subject="Private")
    client.force_login(user)

    response = client.get(reverse("message-detail", args=[message.pk]))

    assert response.status_code == 404
    assert "Private" not in response.content.decode()


def test_a_message_page_needs_a_signed_in_person(client, user):
    message = make_message(user)

    response = client.get(reverse("message-detail", args=[message.pk]))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# ---------------------------------------------------------------- the form's limits


def test_the_form_shows_its_limits_and_keeps_a_long_paste_whole(client, user):
    client.force_login(user)

    html = client.get(reverse("home")).content.decode()

    # No maxlength: the browser would cut a paste short without a word.
    assert "maxlength" not in html
    assert 'id="id_subject_counter" data-limit="150"' in html
    assert 'id="id_body_counter" data-limit="5000"' in html
    assert "Up to 5000 characters" in html


def test_a_body_over_the_limit_is_refused_saying_by_how_much(client, user):
    client.force_login(user)

    response = client.post(reverse("message-new"), {"subject": "Long", "body": "x" * 5100}, **HTMX)

    assert "at most 5000 characters (it has 5100)" in response.content.decode()
    assert not Message.objects.exists()


def test_line_breaks_count_once_as_the_counter_counts_them(client, user):
    client.force_login(user)
    # A browser sends a textarea's line breaks as CRLF.
    # Sent as 6,000 characters, it is 5,000 once each break counts as one.
    body = "line\r\n" * 1000

    response = client.post(reverse("message-new"), {"subject": "Lines", "body": body}, **HTMX)

    assert response.status_code == 200
    assert Message.objects.get().body == ("line\n" * 1000).strip()
