"""An email that cannot be delivered reaches staff, whatever its kind: a confirmation
link to an address the mail server refuses is failed in the admin's list of emails, on
the admin index's warning, at ERROR in the log, and in the metrics."""

import logging

import pytest
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from outbox.models import Email
from outbox.services import email_send, emails_relay
from users.models import AccountEmailKind, User
from users.services import user_sign_up

pytestmark = pytest.mark.django_db

TOKEN = "a-metrics-token"
REFUSED = "550 5.1.1 No such mailbox here"


@pytest.fixture
def refused_confirmation(smtp_sink, caplog) -> Email:
    """A sign-up whose confirmation email the mail server refuses for good."""
    smtp_sink.replies = [REFUSED]
    user_sign_up(email="typo@exampel.org", password="a long enough password", language="en")
    enqueued: list[int] = []
    emails_relay(enqueue=lambda email_id, kind: enqueued.append(email_id))
    [email_id] = enqueued
    with caplog.at_level(logging.INFO):
        try:
            email_send(email_id=email_id)
        except Exception as error:
            assert type(error).__name__ == "DeliveryFailed"
    return Email.objects.get(pk=email_id)


@pytest.fixture
def staff_client(client, db):
    client.force_login(User.objects.create_superuser(email="boss@example.org", password="x"))
    return client


def test_the_refused_confirmation_is_failed_after_one_attempt(refused_confirmation):
    assert refused_confirmation.kind == AccountEmailKind.VERIFY_ADDRESS
    assert (refused_confirmation.status, refused_confirmation.attempts) == ("failed", 1)
    assert "550" in refused_confirmation.last_error


def test_it_is_listed_among_the_failed_emails_of_its_kind(refused_confirmation, staff_client):
    url = reverse("admin:outbox_email_changelist")
    page = staff_client.get(url, {"outcome": "not_delivered", "kind": "verify_address"})
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [refused_confirmation]
    delivered_only = staff_client.get(url, {"outcome": "over", "status__exact": "delivered"})
    assert refused_confirmation not in delivered_only.context["cl"].result_list


def test_the_admin_index_warns_of_it(refused_confirmation, staff_client):
    page = staff_client.get(reverse("admin:index")).content.decode()
    assert 'id="recent-failures"' in page
    assert "1 email did not get through in the last 24 hours." in page


def test_the_admin_index_is_calm_when_nothing_failed(staff_client):
    page = staff_client.get(reverse("admin:index")).content.decode()
    assert 'id="recent-failures"' not in page


def test_it_is_logged_at_error_with_its_kind_id_and_reason(refused_confirmation, caplog):
    # The send happened as the fixture set the test up.
    sent = caplog.get_records("setup")
    [line] = [record for record in sent if record.getMessage().startswith("email_failed")]
    assert line.levelno == logging.ERROR
    text = line.getMessage()
    assert f"email_id={refused_confirmation.pk} kind=verify_address" in text
    assert "550" in text


def test_it_is_counted_in_the_metrics_by_kind_and_status(refused_confirmation, client, settings):
    settings.METRICS_TOKEN = TOKEN
    answer = client.get(reverse("metrics"), headers={"Authorization": f"Bearer {TOKEN}"})
    samples = {
        (sample.name, sample.labels.get("kind"), sample.labels.get("status")): sample.value
        for family in text_string_to_metric_families(answer.content.decode())
        for sample in family.samples
    }
    assert samples[("site_emails", "verify_address", "failed")] == 1
    assert samples[("site_emails", "message", "failed")] == 0
