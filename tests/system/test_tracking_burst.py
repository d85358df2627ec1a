"""A burst of provider reports against the production topology (gunicorn, PostgreSQL,
the worker): 1,000 deliveries for 1,000 messages, posted concurrently, then every one
again with a late deferral and some bounces mixed in. Each report is applied once,
none is lost, and the counts the header reads agree."""

import random
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tests.outbox.provider_reports import (
    MAILGUN_URL,
    POSTMARK_URL,
    WEBHOOK_SECRET,
    mailgun,
    postmark,
)
from tests.system.topology import Topology, provider_environment, topology_environment

MESSAGES = 1000
BOUNCED = 100
POSTERS = 16


@pytest.fixture
def topology() -> Iterator[Topology]:
    yield from topology_environment(**provider_environment("postmark"))


@pytest.fixture
def mailgun_topology() -> Iterator[Topology]:
    yield from topology_environment(**provider_environment("mailgun"))


def sent_messages(topology: Topology, count: int) -> list[tuple[int, str]]:
    """`count` messages whose emails the provider took, written straight into the
    database: the sending path has tests of its own, this one is about the reports.
    Returns each email's id and the provider's id of it."""
    return topology.query(
        """
        WITH emails AS (
            INSERT INTO outbox_email (kind, "to", language, created_at, request_id, status,
                next_attempt_at, attempts, last_error, sent_at, relayed_at,
                provider_message_id)
            SELECT 'message', 'admin@example.org', 'en', now(), '', 'sent', now(), 1, '',
                now(), now(), gen_random_uuid()::text
            FROM generate_series(1, %s)
            RETURNING id, provider_message_id
        ), messages AS (
            INSERT INTO contact_message (sender_email, sender_email_confirmed, subject, body,
                created_at, email_id, directory_status, directory_data)
            SELECT 'ann@example.org', true, 'Burst ' || id, 'Body', now(), id, 'not_found',
                '[]'
            FROM emails
        )
        SELECT id, provider_message_id FROM emails ORDER BY id
        """,
        count,
    )


def post_all(topology: Topology, reports: list[dict], url: str = POSTMARK_URL) -> Counter:
    user, password = WEBHOOK_SECRET.split(":")
    with (
        httpx.Client(base_url=topology.base_url, auth=(user, password), timeout=30) as client,
        ThreadPoolExecutor(POSTERS) as pool,
    ):
        answers = pool.map(lambda report: client.post(url, json=report), reports)
        return Counter(answer.status_code for answer in answers)


def counted_statuses(topology: Topology) -> dict[str, float]:
    exposition = topology.metrics()
    return {
        sample.labels["status"]: sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "site_emails" and sample.labels["kind"] == "message" and sample.value
    }


def test_a_burst_of_reports_is_applied_once_each_and_none_is_lost(topology):
    messages = sent_messages(topology, MESSAGES)
    now = timezone.now()
    deliveries = [
        postmark("delivery", provider_id, at=now - timedelta(minutes=5))
        for _, provider_id in messages
    ]

    assert post_all(topology, deliveries) == Counter({200: MESSAGES})
    assert topology.statuses() == Counter({"delivered": MESSAGES})

    # Every delivery again, a deferral that arrives late for each, and a bounce for some:
    # in any order, concurrently.
    late = [
        postmark("transient", provider_id, at=now - timedelta(minutes=6))
        for _, provider_id in messages
    ]
    bounces = [
        postmark("hard-bounce", provider_id, at=now - timedelta(minutes=1))
        for _, provider_id in messages[:BOUNCED]
    ]
    second_wave = [*deliveries, *late, *bounces]
    random.Random(20).shuffle(second_wave)

    assert post_all(topology, second_wave) == Counter({200: len(second_wave)})
    assert topology.statuses() == Counter({"delivered": MESSAGES - BOUNCED, "bounced": BOUNCED})
    events = Counter(
        dict(topology.query("SELECT event_type, count(*) FROM outbox_emailevent GROUP BY 1"))
    )
    assert events == Counter({"delivered": MESSAGES, "deferred": MESSAGES, "bounced": BOUNCED})
    applied = topology.query(
        "SELECT count(*) FROM outbox_emailevent WHERE applied GROUP BY email_id HAVING count(*) > 2"
    )
    assert applied == []
    # The tally the header and /metrics read moved with every report.
    assert counted_statuses(topology) == {
        "delivered": MESSAGES - BOUNCED,
        "bounced": BOUNCED,
    }


def test_a_report_for_a_message_of_another_site_is_answered_200(topology):
    answers = post_all(topology, [postmark("delivery", str(uuid.uuid4()))])

    assert answers == Counter({200: 1})
    assert topology.query("SELECT count(*) FROM outbox_emailevent") == [(0,)]


def test_a_report_while_the_database_is_away_is_a_503_and_lands_when_posted_again(topology):
    [(email_id, provider_id)] = sent_messages(topology, 1)
    delivery = postmark("delivery", provider_id)

    with topology.database_down():
        assert post_all(topology, [delivery]) == Counter({503: 1})

    # The provider posts it again later, as it does after any answer but a 2xx.
    assert post_all(topology, [delivery]) == Counter({200: 1})
    assert topology.query("SELECT status FROM outbox_email WHERE id = %s", email_id) == [
        ("delivered",)
    ]


def test_signed_mailgun_reports_move_their_messages_and_a_forged_one_is_refused(
    mailgun_topology,
):
    topology = mailgun_topology
    [(delivered_id, _), (bounced_id, _)] = sent_messages(topology, 2)
    # Mailgun's ids are the email's Message-ID, angle brackets and all.
    provider_id = "<20261202155900.1.DF5966851B4BAA99@mg.example.org>"
    bounced_provider_id = "<20261202155901.2.0A1B2C3D4E5F6071@mg.example.org>"
    for email_id, sent_as in ((delivered_id, provider_id), (bounced_id, bounced_provider_id)):
        topology.query(
            "UPDATE outbox_email SET provider_message_id = %s WHERE id = %s RETURNING id",
            sent_as,
            email_id,
        )
    delivered = mailgun("delivered", provider_id)
    # Found by the metadata the email carried, under the id of its send.
    bounced = mailgun("failed-permanent", bounced_provider_id, site_email=bounced_id)
    forged = mailgun("failed-permanent", provider_id, signing_key="not-the-key")

    assert post_all(topology, [delivered, bounced, delivered], MAILGUN_URL) == Counter({200: 3})
    assert post_all(topology, [forged], MAILGUN_URL) == Counter({400: 1})

    statuses = dict(topology.query("SELECT id, status FROM outbox_email"))
    assert statuses == {delivered_id: "delivered", bounced_id: "bounced"}
    assert topology.query("SELECT count(*) FROM outbox_emailevent") == [(2,)]
