import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from contact.models import Message
from tests.conftest import awaiting_relay
from tests.contact.factories import make_message

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    """Run a command; what it printed."""
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_delivery_stats_counts_by_status_and_age(user):
    now = timezone.now()
    make_message(user, status=Message.Status.SENT)
    make_message(user, status=Message.Status.SENT, created_at=now - timedelta(hours=3))
    make_message(user, status=Message.Status.FAILED, created_at=now - timedelta(days=3))
    make_message(user, status=Message.Status.QUEUED, created_at=now - timedelta(minutes=5))
    make_message(user, status=Message.Status.BOUNCED, created_at=now - timedelta(hours=2))

    lines = run("delivery_stats").splitlines()

    assert lines[0].split() == ["status", "last", "hour", "last", "day", "total", "oldest"]
    rows = {line.split()[0]: line.split()[1:4] for line in lines[1:-1]}
    assert list(rows) == Message.Status.values
    assert rows["queued"] == ["1", "1", "1"]
    assert rows["sending"] == ["0", "0", "0"]
    assert rows["sent"] == ["1", "2", "2"]
    assert rows["delivered"] == ["0", "0", "0"]
    assert rows["bounced"] == ["0", "1", "1"]
    assert rows["failed"] == ["0", "0", "1"]
    assert "5 min ago" in next(line for line in lines if line.startswith("queued"))
    # The admin header's line, by the header's definition.
    assert lines[-1] == "Emails sent: 4 (2 not delivered), waiting: 1"


def test_retry_failed_queues_every_failed_message(user):
    failed = [make_message(user, status=Message.Status.FAILED, attempts=5) for _ in range(2)]
    make_message(user, status=Message.Status.SENT)

    output = run("retry_failed")

    assert output.strip() == "2 failed message(s) queued for delivery again."
    assert awaiting_relay() == sorted(m.pk for m in failed)
    assert Message.objects.filter(status=Message.Status.FAILED).count() == 0


def test_retry_failed_leaves_bounced_messages_unless_told(user):
    bounced = make_message(user, status=Message.Status.BOUNCED, attempts=1)
    failed = make_message(user, status=Message.Status.FAILED, attempts=5)
    make_message(user, status=Message.Status.DELIVERED)

    assert run("retry_failed").startswith("1 failed message(s)")
    assert awaiting_relay() == [failed.pk]
    output = run("retry_failed", "--bounced")

    assert output.strip() == "1 failed or bounced message(s) queued for delivery again."
    assert awaiting_relay() == [bounced.pk, failed.pk]
    assert Message.objects.get(pk=bounced.pk).attempts == 0


def test_retry_failed_since_takes_only_recent_ones(user):
    recent = make_message(user, status=Message.Status.FAILED)
    make_message(user, status=Message.Status.FAILED, created_at=timezone.now() - timedelta(days=2))

    output = run("retry_failed", "--since", "6h")

    assert output.startswith("1 failed message(s)")
    assert awaiting_relay() == [recent.pk]


def test_retry_failed_since_accepts_a_date_time(user):
    make_message(user, status=Message.Status.FAILED)

    assert run("retry_failed", "--since", "2000-01-01T00:00").startswith("1 failed")


def test_retry_failed_refuses_a_since_it_cannot_read(db):
    with pytest.raises(CommandError, match="--since takes"):
        call_command("retry_failed", "--since", "yesterday")


@pytest.mark.parametrize("value", ["banana", "2026-13-45T00:00", "99999999999d"])
def test_retry_failed_from_the_shell_says_one_line_for_a_since_it_cannot_read(value):
    # As an operator runs it: argparse's usage and one error line, exit 2, no traceback.
    finished = subprocess.run(
        [sys.executable, "manage.py", "retry_failed", "--since", value],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert finished.returncode == 2
    assert "Traceback" not in finished.stderr
    assert "--since takes 30m, 6h, 2d or an ISO 8601 date-time" in finished.stderr
