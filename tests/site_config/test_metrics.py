from datetime import timedelta
from itertools import product

import pytest
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from contact.models import Message
from outbox.failures import DeliveryFailed
from outbox.models import Email
from outbox.services import email_queue, email_send
from tests.contact.factories import make_message
from users.models import AccountEmailKind
from users.services import account_email_queue

TOKEN = "a-metrics-token"
KINDS = [Message.EMAIL_KIND, *AccountEmailKind.values]


@pytest.fixture
def metrics_on(settings) -> None:
    settings.METRICS_TOKEN = TOKEN


def scrape(client, token: str = TOKEN):
    return client.get(reverse("metrics"), headers={"Authorization": f"Bearer {token}"})


def series(response, name: str) -> dict[tuple[str, ...], float]:
    """The samples of metric `name`: their label values, in label-name order, to value."""
    return {
        tuple(value for _, value in sorted(found.labels.items())): found.value
        for family in text_string_to_metric_families(response.content.decode())
        for found in family.samples
        if found.name == name
    }


def emails(kind: str, status: str, count: int = 1, **fields) -> None:
    for _ in range(count):
        email = email_queue(kind=kind, to=["someone@example.org"])
        Email.objects.filter(pk=email.pk).update(status=status, **fields)


def test_metrics_do_not_exist_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""

    assert scrape(client, token="").status_code == 404


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer ключ"],
)
def test_metrics_refuse_a_scraper_without_the_token(client, metrics_on, authorization):
    response = client.get(reverse("metrics"), headers={"Authorization": authorization})

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"site_emails" not in response.content


@pytest.mark.django_db
def test_metrics_count_emails_by_kind_and_status(client, metrics_on, user):
    for status, count in [(Email.Status.SENT, 3), (Email.Status.FAILED, 2)]:
        for _ in range(count):
            message = make_message(user)
            Email.objects.filter(pk=message.email_id).update(status=status)
    make_message(user)
    account_email_queue(user=user, kind=AccountEmailKind.SIGN_UP_ATTEMPT, language="en")
    emails(AccountEmailKind.PASSWORD_RESET, Email.Status.BOUNCED, 2)

    response = scrape(client)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    values = series(response, "site_emails")
    assert values[("message", "sent")] == 3
    assert values[("message", "failed")] == 2
    assert values[("message", "queued")] == 1
    assert values[("message", "sending")] == 0
    assert values[("sign_up_attempt", "queued")] == 1
    assert values[("password_reset", "bounced")] == 2
    assert values[("verify_address", "queued")] == 0
    # A series for every kind and status, there before its first email.
    assert set(values) == set(product(KINDS, Email.Status.values))
    assert sum(values.values()) == Email.objects.count() == 9


@pytest.mark.django_db
def test_a_confirmation_link_that_failed_is_counted_as_such(
    client, metrics_on, unconfirmed_user, smtp_sink
):
    sent = account_email_queue(
        user=unconfirmed_user, kind=AccountEmailKind.VERIFY_ADDRESS, language="en"
    )
    smtp_sink.replies = ["550 No such mailbox"]
    with pytest.raises(DeliveryFailed):
        email_send(email_id=sent.pk)

    values = series(scrape(client), "site_emails")

    assert values[("verify_address", "failed")] == 1
    assert values[("verify_address", "queued")] == values[("verify_address", "sending")] == 0
    assert values[("message", "failed")] == 0


@pytest.mark.django_db
def test_metrics_count_a_kind_no_app_registers(client, metrics_on):
    # Rows of a kind no app registers are emails all the same, and counted.
    emails("retired_kind", Email.Status.FAILED)

    values = series(scrape(client), "site_emails")

    assert values[("retired_kind", "failed")] == 1
    assert values[("retired_kind", "queued")] == 0


@pytest.mark.django_db
def test_metrics_tell_how_long_the_oldest_email_has_waited(client, metrics_on, user):
    now = timezone.now()
    emails("message", Email.Status.QUEUED, created_at=now - timedelta(minutes=1))
    emails("verify_address", Email.Status.QUEUED, created_at=now - timedelta(minutes=10))
    emails("message", Email.Status.SENT, created_at=now - timedelta(days=2))

    values = series(scrape(client), "site_emails_oldest_waiting_seconds")

    # Of any kind: the confirmation link has waited longest.
    assert 600 <= values[("queued",)] < 660
    assert values[("sending",)] == 0
    assert set(values) == {("queued",), ("sending",)}


def sample(response, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(response.content.decode()):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return 0.0


@pytest.mark.django_db
def test_metrics_count_requests_by_view_method_and_status(client, metrics_on):
    before = scrape(client)
    for _ in range(3):
        client.get(reverse("home"))
    client.get("/no/such/page/")
    client.post(reverse("healthz"))

    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("http_requests_total", view="home", method="GET", status="200") == 3
    assert grew("http_requests_total", view="unresolved", method="GET", status="404") == 1
    assert grew("http_requests_total", view="healthz", method="POST", status="405") == 1
    assert grew("http_request_duration_seconds_count", view="home") == 3
    # The path of an unknown page never becomes a label.
    assert "no/such/page" not in after.content.decode()


def test_the_grafana_dashboard_charts_only_metrics_that_exist():
    import json
    import re
    from pathlib import Path

    import dramatiq.middleware.prometheus as dramatiq_metrics

    dashboard = json.loads((Path(__file__).parents[2] / "docs/grafana-dashboard.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    named = set(
        re.findall(r"\b(http_\w+|site_\w+|contact_\w+|dramatiq_\w+)", " ".join(expressions))
    )
    ours = {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "site_emails",
        "site_emails_oldest_waiting_seconds",
    }
    dramatiqs = set(re.findall(r'"(dramatiq_\w+)"', Path(dramatiq_metrics.__file__).read_text()))
    dramatiqs |= {f"{name}_bucket" for name in dramatiqs}

    assert named and named <= ours | dramatiqs, named - ours - dramatiqs
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
