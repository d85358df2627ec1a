"""Reading the bounces of common mail servers: which message each one names (by the
return path it was mailed to, never its content) and what it reports."""

import pytest

from contact.bounces import read_bounce
from contact.return_path import return_path
from tests.contact.bounce_fixtures import KINDS, addressed, auto_reply


@pytest.fixture(autouse=True)
def bounce_address(settings):
    settings.BOUNCE_ADDRESS = "bounces@example.org"


@pytest.mark.parametrize(("name", "kind"), KINDS.items(), ids=KINDS.keys())
def test_each_servers_bounce_names_its_message_and_says_what_happened(name, kind):
    bounce = read_bounce(addressed(name, return_path(31)))

    assert (bounce.message_id, bounce.event_type) == (31, kind)
    assert bounce.report_id.startswith("bounce:")
    assert bounce.detail


def test_a_delivery_status_report_gives_the_servers_status_and_diagnosis():
    bounce = read_bounce(addressed("dsn_05", return_path(31)))

    assert bounce.detail.startswith("4.4.1")
    assert bounce.occurred_at is not None and bounce.occurred_at.tzinfo is not None


def test_a_bounce_to_a_forged_return_path_names_no_message():
    genuine = return_path(31)
    forged = genuine.replace("m31-", "m32-")

    assert read_bounce(addressed("postfix_01", forged)).message_id is None
    assert read_bounce(addressed("postfix_01", "bounces@example.org")).message_id is None


def test_an_auto_reply_reports_nothing():
    reply = read_bounce(auto_reply(return_path(31)))

    assert (reply.message_id, reply.event_type) == (31, "")


def test_the_same_bounce_read_twice_has_the_same_id():
    mail = addressed("exim_01", return_path(31))

    assert read_bounce(mail).report_id == read_bounce(mail).report_id
    without_id = mail.replace(b"Message-Id:", b"X-Old-Id:").replace(b"Message-ID:", b"X-Old-Id:")
    assert read_bounce(without_id).report_id == read_bounce(without_id).report_id
    assert read_bounce(without_id).report_id.startswith("bounce:m31:sha256:")
