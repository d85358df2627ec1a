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
    named = set(re.findall(r"\b(http_\w+|contact_\w+|dramatiq_\w+)", " ".join(expressions)))
    ours = {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "contact_messages",
        "contact_messages_oldest_waiting_seconds",
    }
    dramatiqs = set(re.findall(r'"(dramatiq_\w+)"', Path(dramatiq_metrics.__file__).read_text()))
    dramatiqs |= {f"{name}_bucket" for name in dramatiqs}

    assert named and named <= ours | dramatiqs, named - ours - dramatiqs
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
