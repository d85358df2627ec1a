import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from outbox.models import Email
from tests.conftest import awaiting_relay
from tests.contact.factories import make_message

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    """Run a command; what it printed."""
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def account_email(user, status: str, **fields) -> Email:
    """An account email to `user` in `status`."""
    return Email.objects.create(
        kind="verify_address",
        to=user.email,
        user=user,
        language="en",
        status=status,
        **fields,
    )


def test_delivery_stats_counts_by_kind_status_and_age(user):
    now = timezone.now()
    make_message(user, status=Email.Status.SENT)
    make_message(user, status=Email.Status.SENT, created_at=now - timedelta(hours=3))
    make_message(user, status=Email.Status.FAILED, created_at=now - timedelta(days=3))
    make_message(user, status=Email.Status.QUEUED, created_at=now - timedelta(minutes=5))
    make_message(user, status=Email.Status.BOUNCED, created_at=now - timedelta(hours=2))
    account_email(user, Email.Status.SENT, created_at=now - timedelta(minutes=30))
    account_email(user, Email.Status.FAILED, created_at=now - timedelta(minutes=20))

    lines = run("delivery_stats").splitlines()

    assert lines[0].split() == ["kind", "status", "last", "hour", "last", "day", "total", "oldest"]
    rows = {tuple(line.split()[:2]): line.split()[2:5] for line in lines[1:]}
    # The kinds and statuses that have emails, in order.
    assert list(rows) == [
        ("message", "bounced"),
        ("message", "failed"),
        ("message", "queued"),
        ("message", "sent"),
        ("verify_address", "failed"),
        ("verify_address", "sent"),
    ]
    assert rows["message", "queued"] == ["1", "1", "1"]
    assert rows["message", "sent"] == ["1", "2", "2"]
    assert rows["message", "bounced"] == ["0", "1", "1"]
    assert rows["message", "failed"] == ["0", "0", "1"]
    assert rows["verify_address", "sent"] == ["1", "1", "1"]
    assert rows["verify_address", "failed"] == ["1", "1", "1"]
    queued = next(line for line in lines if line.split()[:2] == ["message", "queued"])
    assert "5 min ago" in queued


def test_delivery_stats_without_emails_prints_its_header_alone(db):
    assert run("delivery_stats").split() == [
        "kind",
        "status",
        "last",
        "hour",
        "last",
        "day",
        "total",
        "oldest",
    ]


def test_retry_failed_queues_every_failed_email(user):
    failed = [make_message(user, status=Email.Status.FAILED, attempts=5) for _ in range(2)]
    account = account_email(user, Email.Status.FAILED, attempts=5)
    make_message(user, status=Email.Status.SENT)

    output = run("retry_failed")

    assert output.strip() == "3 failed email(s) queued for delivery again."
    assert awaiting_relay() == sorted([*(m.email_id for m in failed), account.pk])
    assert not Email.objects.filter(status=Email.Status.FAILED).exists()


def test_retry_failed_leaves_bounced_emails_unless_told(user):
    bounced = make_message(user, status=Email.Status.BOUNCED, attempts=1)
    failed = make_message(user, status=Email.Status.FAILED, attempts=5)
    make_message(user, status=Email.Status.DELIVERED)

    assert run("retry_failed").startswith("1 failed email(s)")
    assert awaiting_relay() == [failed.email_id]
    output = run("retry_failed", "--bounced")

    assert output.strip() == "1 failed or bounced email(s) queued for delivery again."
    assert awaiting_relay() == [bounced.email_id, failed.email_id]
    assert Email.objects.get(pk=bounced.email_id).attempts == 0


def test_retry_failed_kind_takes_only_emails_of_that_kind(user):
    message = make_message(user, status=Email.Status.FAILED, attempts=5)
    account = account_email(user, Email.Status.FAILED, attempts=5)

    output = run("retry_failed", "--kind", "verify_address")

    assert output.strip() == "1 failed email(s) queued for delivery again."
    assert awaiting_relay() == [account.pk]
    assert Email.objects.get(pk=message.email_id).status == Email.Status.FAILED


def test_retry_failed_refuses_a_kind_no_app_registers(db):
    with pytest.raises(CommandError, match="invalid choice: 'retired_kind'"):
        call_command("retry_failed", "--kind", "retired_kind")


def test_retry_failed_since_takes_only_recent_ones(user):
    recent = make_message(user, status=Email.Status.FAILED)
    make_message(user, status=Email.Status.FAILED, created_at=timezone.now() - timedelta(days=2))

    output = run("retry_failed", "--since", "6h")

    assert output.startswith("1 failed email(s)")
    assert awaiting_relay() == [recent.email_id]


def test_retry_failed_since_accepts_a_date_time(user):
    make_message(user, status=Email.Status.FAILED)

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
