"""Hypothesis writes the directory's answer for the sender: their entry with any JSON at
all in its fields (every character, lone surrogates and NUL included, any number, deep
and wide nesting), served by the real HTTP stand-in. Each time the email goes out
exactly once, the delivery record is written and matches the attachment, and the
message's admin page opens."""

import json

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from contact.models import Message
from contact.services import message_create
from outbox.models import Email
from outbox.services import email_send
from tests.conftest import make_person
from tests.standins.directory import USERS

pytestmark = pytest.mark.django_db

LEANNE = USERS[0]
TEXT = st.text(st.characters(), max_size=40) | st.sampled_from(
    ["\x00", "\ud800", "\u202e", "=?utf-8?b?SGk=?=", "\r\nBcc: x@example.org", "x" * 5000]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(TEXT, children, max_size=6),
    max_leaves=40,
)
# What json.dumps cannot write but a directory can: its own spellings of numbers.
RAW_NUMBERS = ["NaN", "-Infinity", "1e999", "9" * 3000]


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    fields=st.dictionaries(
        st.sampled_from(["name", "phone", "address", "company", "extra"]), JSON, max_size=4
    ),
    raw=st.sampled_from([None, *RAW_NUMBERS]),
)
def test_any_answer_is_sent_once_and_recorded(fields, raw, directory, smtp_sink, admin_client):
    sender = make_person(f"sincere{Message.objects.count()}@april.biz", "x")
    entry = json.dumps({**LEANNE, "email": sender.email, **fields})
    if raw is not None:
        entry = entry[:-1] + f', "number": {raw}}}'
    directory.raw_answer = f"[{entry}]".encode("utf-8", "surrogatepass")
    message = message_create(sender=sender, subject="Question", body="Where is my parcel?")
    before = len(smtp_sink.received)

    email_send(email_id=message.email_id)
    email_send(email_id=message.email_id)

    message.refresh_from_db()
    assert message.email.status == Email.Status.SENT
    assert len(smtp_sink.received) == before + 1
    attachments = list(smtp_sink.received[-1].message.iter_attachments())
    assert [json.loads(a.get_content()) for a in attachments] == (
        [message.directory_data] if message.directory_data else []
    )
    page = admin_client.get(reverse("admin:contact_message_change", args=[message.pk]))
    assert page.status_code == 200
