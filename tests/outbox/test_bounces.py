"""Reading the bounces of common mail servers: which email each one names (by the
return path it was mailed to, never its content) and what it reports."""

from email.message import Message

import pytest

from outbox import bounces
from outbox.bounces import read_bounce
from outbox.return_path import return_path
from tests.outbox.bounce_fixtures import KINDS, addressed, auto_reply, crafted


@pytest.fixture(autouse=True)
def bounce_address(settings):
    settings.BOUNCE_ADDRESS = "bounces@example.org"


@pytest.mark.parametrize(("name", "kind"), KINDS.items(), ids=KINDS.keys())
def test_each_servers_bounce_names_its_email_and_says_what_happened(name, kind):
    bounce = read_bounce(addressed(name, return_path(31)))

    assert (bounce.email_id, bounce.event_type) == (31, kind)
    assert bounce.report_id.startswith("bounce:")
    assert bounce.detail


def test_a_delivery_status_report_gives_the_servers_status_and_diagnosis():
    bounce = read_bounce(addressed("dsn_05", return_path(31)))

    assert bounce.detail.startswith("4.4.1")
    assert bounce.occurred_at is not None and bounce.occurred_at.tzinfo is not None


def test_a_bounce_to_a_forged_return_path_names_no_email():
    genuine = return_path(31)
    forged = genuine.replace("m31-", "m32-")

    assert read_bounce(addressed("postfix_01", forged)).email_id is None
    assert read_bounce(addressed("postfix_01", "bounces@example.org")).email_id is None


def test_an_auto_reply_reports_nothing():
    reply = read_bounce(auto_reply(return_path(31)))

    assert (reply.email_id, reply.event_type) == (31, "")


def test_the_same_bounce_read_twice_has_the_same_id():
    mail = addressed("exim_01", return_path(31))

    assert read_bounce(mail).report_id == read_bounce(mail).report_id
    without_id = mail.replace(b"Message-Id:", b"X-Old-Id:").replace(b"Message-ID:", b"X-Old-Id:")
    assert read_bounce(without_id).report_id == read_bounce(without_id).report_id
    assert read_bounce(without_id).report_id.startswith("bounce:m31:sha256:")


@pytest.fixture
def heuristics(monkeypatch) -> list[Message]:
    """Every mail flufl.bounce's heuristics are shown, instead of running them."""
    shown: list[Message] = []

    def all_failures(mail: Message) -> tuple[frozenset[bytes], frozenset[bytes]]:
        shown.append(mail)
        return frozenset(), frozenset()

    monkeypatch.setattr(bounces, "all_failures", all_failures)
    return shown


def test_a_mail_that_names_none_of_ours_is_read_no_further_than_its_headers(heuristics):
    assert read_bounce(crafted("bounces@example.org")).email_id is None
    assert read_bounce(addressed("postfix_01", "someone@example.net")).email_id is None
    forged = return_path(31).replace("m31-", "m32-")
    assert read_bounce(crafted(forged)).email_id is None
    # A DSN that names nothing by its envelope id either.
    assert read_bounce(addressed("dsn_01", "bounces@example.org")).email_id is None

    assert heuristics == []


def test_the_heuristics_see_a_bounded_copy_of_a_named_bounce(heuristics):
    bounce = read_bounce(crafted(return_path(31), line="<" * 1000, lines=150))

    assert bounce.email_id == 31
    [mail] = heuristics
    texts = [
        part.get_payload(decode=True).decode() for part in mail.walk() if not part.is_multipart()
    ]
    lines = [line for text in texts for line in text.splitlines()]
    assert lines[0].startswith("This Message was undeliverable")
    assert max(len(line) for line in lines) <= bounces.HEURISTIC_LINE_MAX
    assert sum(len(text) for text in texts) <= bounces.HEURISTIC_TEXT_MAX


def test_a_mail_over_the_size_bound_is_not_parsed(settings, heuristics, monkeypatch):
    settings.BOUNCE_MAIL_MAX_BYTES = 1024
    mail = addressed("postfix_01", return_path(31))
    assert len(mail) > 1024

    def parse(raw: bytes) -> None:
        raise AssertionError("parsed")

    monkeypatch.setattr(bounces.email, "message_from_bytes", parse)
    monkeypatch.setattr(bounces, "BytesHeaderParser", parse)

    assert read_bounce(mail).email_id is None
    assert heuristics == []


def test_a_named_bounce_with_crafted_lines_is_still_read_by_the_heuristics():
    # Bounded, the Netscape heuristics read the crafted bounce (and find no address).
    bounce = read_bounce(crafted(return_path(31)))

    assert (bounce.email_id, bounce.event_type) == (31, "")
