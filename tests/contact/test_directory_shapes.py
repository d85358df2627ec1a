"""The directory may answer anything for an address. Whatever it sends, through the real
HTTP stand-in: the email goes out exactly once, the delivery record is written, the
attachment is valid UTF-8 JSON, and the message's admin page opens. On the database the
suite runs on (SQLite, and PostgreSQL in CI's second run)."""

import json
import math
from email import policy
from email.parser import BytesParser

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from contact.directory_data import CUT, MAX_DEPTH, MAX_STRING, UNSAFE, storable
from contact.models import Message
from outbox.models import Email
from outbox.services import email_send
from tests.conftest import make_person
from tests.contact.factories import make_message
from tests.standins.directory import USERS

pytestmark = pytest.mark.django_db

LEANNE = USERS[0]


def answer_with(**fields: str) -> bytes:
    """The directory's answer: Leanne's entry with `fields` as raw JSON text."""
    entry = json.dumps({**LEANNE, **dict.fromkeys(fields, None)})
    for name, raw in fields.items():
        entry = entry.replace(f'"{name}": null', f'"{name}": {raw}', 1)
    return f"[{entry}]".encode()


def nested(levels: int) -> str:
    return "[" * levels + '"deep"' + "]" * levels


SHAPES = {
    "nested 100,000 levels": answer_with(address=nested(100_000)),
    "nested 50 levels": answer_with(address=nested(50)),
    "a lone surrogate": answer_with(name='"Leanne \\ud800 Graham"'),
    "a NUL character": answer_with(name='"Leanne\\u0000Graham"', phone='"\\u0000"'),
    "control characters": answer_with(name='"Leanne\\u001b[31m\\u0007Graham"'),
    "bidirectional controls": answer_with(name='"\\u202eetalp\\u2066x\\u2069 Graham"'),
    "numbers where strings belong": answer_with(name="42", address="7", company="[1, 2.5]"),
    "NaN and infinities": answer_with(name="NaN", phone="Infinity", website="1e999"),
    "a huge string": answer_with(name=json.dumps("L" * 900_000)),
    "thousands of keys": answer_with(company=json.dumps({str(n): n for n in range(5000)})),
    "a number of 4,000 digits": answer_with(id="9" * 4000),
    "invalid UTF-8": answer_with(name='"Leanne"').replace(b"Leanne", b"Le\xffanne"),
}


@pytest.fixture
def leanne(db):
    return make_person("sincere@april.biz", "x")


@pytest.mark.parametrize("answer", SHAPES.values(), ids=SHAPES.keys())
def test_any_answer_sends_once_records_and_opens_in_the_admin(
    answer, leanne, directory, smtp_sink, admin_client
):
    directory.raw_answer = answer
    message = make_message(leanne)

    email_send(email_id=message.email_id)

    message = Message.objects.select_related("email").get(pk=message.pk)
    assert message.email.status == Email.Status.SENT
    assert message.directory_status in {
        Message.DirectoryStatus.FOUND,
        Message.DirectoryStatus.UNAVAILABLE,
    }
    [received] = smtp_sink.received
    email = BytesParser(policy=policy.default).parsebytes(received.message.as_bytes())
    assert [part.defects for part in email.walk() if part.defects] == []
    for attachment in email.iter_attachments():
        assert json.loads(attachment.get_content()) == message.directory_data
    # The record holds nothing a page or a mail client would let rearrange the text.
    assert UNSAFE.search(json.dumps(message.directory_data, ensure_ascii=False)) is None

    page = admin_client.get(reverse("admin:contact_message_change", args=[message.pk]))
    assert page.status_code == 200
    # A second delivery of the same task sends nothing more.
    email_send(email_id=message.email_id)
    assert len(smtp_sink.received) == 1


def test_what_can_be_kept_is_kept(leanne, directory, smtp_sink):
    directory.raw_answer = answer_with(name='"Leanne\\u0000 \\u202eGraham"', address="7")

    email_send(email_id=make_message(leanne).email_id)

    [entry] = Message.objects.get().directory_data
    assert (entry["name"], entry["address"], entry["email"]) == (
        "Leanne Graham",
        7,
        "Sincere@april.biz",
    )


def test_what_nests_too_deep_is_cut_at_a_marker():
    value = storable({"a": [[[[[[[[[[["deep"]]]]]]]]]]]})

    depth = 0
    while isinstance(value, dict | list) and value:
        value = next(iter(value.values())) if isinstance(value, dict) else value[0]
        depth += 1
    assert (value, depth) == (CUT, MAX_DEPTH)


# Any JSON json.loads can give: every character (lone surrogates and NUL included), any
# number, nesting, and long strings.
JSON_TEXT = st.text(st.characters(), max_size=50) | st.builds(
    lambda char, length: char * length, st.characters(), st.integers(0, 3 * MAX_STRING)
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | JSON_TEXT,
    lambda children: (
        st.lists(children, max_size=8) | st.dictionaries(JSON_TEXT, children, max_size=8)
    ),
    max_leaves=60,
)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=JSON_VALUES)
def test_every_reduced_value_can_be_stored_attached_and_shown(leanne, value):
    kept = storable(value)

    # Attached: valid JSON in UTF-8.
    attached = json.dumps(kept, ensure_ascii=False, allow_nan=False).encode("utf-8")
    assert UNSAFE.search(attached.decode()) is None
    # Stored and read back unchanged, on this database.
    message = make_message(leanne, directory_data=[kept])
    message.refresh_from_db()
    assert message.directory_data == [kept]
    # Reduced already, it stays as it is.
    assert storable(kept) == kept
    assert not any(isinstance(f, float) and not math.isfinite(f) for f in _leaves(kept))


def _leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


@pytest.mark.parametrize(
    "separator", ["\n", "\r\n", "\u2028", "\u2029", "\x85"], ids=["lf", "crlf", "ls", "ps", "nel"]
)
def test_a_value_with_line_breaks_writes_no_line_of_its_own_into_the_email(
    separator, leanne, directory, smtp_sink
):
    forged = f"Leanne{separator}Open this message in the admin: https://evil.example/"
    directory.raw_answer = answer_with(name=json.dumps(forged))

    email_send(email_id=make_message(leanne).email_id)

    [received] = smtp_sink.received
    email = BytesParser(policy=policy.default).parsebytes(received.message.as_bytes())
    text = email.get_body(preferencelist=("plain",)).get_content()
    lines = text.splitlines()
    assert not any(
        line.startswith("Open this message in the admin: https://evil") for line in lines
    )
    assert any(line.startswith("Name: Leanne") and "evil.example" in line for line in lines)
    [entry] = Message.objects.get().directory_data
    assert entry["name"].startswith("Leanne") and entry["name"].endswith("evil.example/")
    assert len(entry["name"].splitlines()) == 1
