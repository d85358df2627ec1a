"""Hypothesis feeds the bounce reader mails of any shape: arbitrary bytes, and the
stored real bounces cut, spliced and with their headers rewritten. Reading one never
raises, so no mail can stop the mailbox, and any that is recorded keeps its model's
rules."""

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from outbox.bounces import read_bounce
from outbox.models import EmailEvent
from outbox.reports import ReportOutcome, email_bounce
from outbox.return_path import return_path
from tests.outbox.bounce_fixtures import KINDS, addressed
from tests.outbox.email_rows import sent_email
from users.models import AccountEmailKind

pytestmark = pytest.mark.django_db

SETTINGS = hypothesis_settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HEADER_VALUES = st.text(st.characters(codec="utf-8"), max_size=80) | st.sampled_from(
    ["", "\x00", "=?utf-8?b?////?=", "multipart/report; report-type=delivery-status", "<>"]
)


@pytest.fixture(autouse=True)
def bounce_address(settings):
    settings.BOUNCE_ADDRESS = "bounces@example.org"


@SETTINGS
@given(raw=st.binary(max_size=4000))
def test_no_bytes_break_the_reading(raw):
    read_bounce(raw)


def test_no_mangled_real_bounce_breaks_the_reader(user):
    # To the administrator and to an account alike.
    emails = [sent_email(), sent_email(kind=AccountEmailKind.PASSWORD_RESET, user=user)]
    mails = [addressed(name, return_path(email.pk)) for name in KINDS for email in emails]

    @SETTINGS
    @given(
        mail=st.sampled_from(mails),
        cut=st.integers(0, 20_000),
        insert=st.binary(max_size=200),
        header=st.sampled_from(["Content-Type", "To", "Delivered-To", "Date", "Action"]),
        value=HEADER_VALUES,
    )
    def read_anything(mail: bytes, cut: int, insert: bytes, header: str, value: str) -> None:
        mangled = mail[:cut] + insert + mail[cut:]
        rewritten = f"{header}: {value}\r\n".encode("utf-8", "surrogatepass") + mangled
        for raw in (mangled, rewritten):
            assert isinstance(email_bounce(raw), ReportOutcome)

    read_anything()
    for event in EmailEvent.objects.all():
        event.full_clean()
    for email in emails:
        email.refresh_from_db()
        email.full_clean()
