from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from contact.models import Message
from tests.contact.factories import make_message

TOKEN = "a-metrics-token"


@pytest.fixture
def metrics_on(settings) -> None:
    settings.METRICS_TOKEN = TOKEN


def scrape(client, token: str = TOKEN):
    return client.get(reverse("metrics"), headers={"Authorization": f"Bearer {token}"})


def samples(response) -> dict[tuple[str, str], float]:
    """(metric name, status label) to value, from a Prometheus exposition."""
    text = response.content.decode()
    return {
        (sample.name, sample.labels.get("status", "")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


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
    assert b"contact_messages" not in response.content


@pytest.mark.django_db
def test_metrics_count_messages_by_status(client, metrics_on, user):
    for status, count in [(Message.Status.SENT, 3), (Message.Status.FAILED, 2)]:
        for _ in range(count):
            make_message(user, status=status)
    make_message(user)

    response = scrape(client)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    values = samples(response)
    assert values[("contact_messages", "sent")] == 3
    assert values[("contact_messages", "failed")] == 2
    assert values[("contact_messages", "queued")] == 1
    assert values[("contact_messages", "sending")] == 0


@pytest.mark.django_db
def test_metrics_tell_how_long_the_oldest_message_has_waited(client, metrics_on, user):
    make_message(user, created_at=timezone.now() - timedelta(minutes=10))
    make_message(user, created_at=timezone.now() - timedelta(minutes=1))
    make_message(user, status=Message.Status.SENT, created_at=timezone.now() - timedelta(days=2))

    values = samples(scrape(client))

    assert 600 <= values[("contact_messages_oldest_waiting_seconds", "queued")] < 660
    assert values[("contact_messages_oldest_waiting_seconds", "sending")] == 0
    assert ("contact_messages_oldest_waiting_seconds", "sent") not in values
