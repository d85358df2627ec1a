import json
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from html.parser import HTMLParser

import pytest
from django.core.checks.registry import registry
from django.core.mail import BadHeaderError
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse
from django.utils import translation

from contact.directory import DirectoryLookup
from contact.emails import (
    DIRECTORY_ATTACHMENT_NAME,
    admin_email,
    check_email_addresses,
    check_site_url,
)
from contact.models import Message
from tests.contact.factories import make_message
from tests.standins.directory import USERS

pytestmark = pytest.mark.django_db

LEANNE = USERS[0]
FOUND = DirectoryLookup(Message.DirectoryStatus.FOUND, users=[LEANNE])
NOT_FOUND = DirectoryLookup(Message.DirectoryStatus.NOT_FOUND)
UNAVAILABLE = DirectoryLookup(Message.DirectoryStatus.UNAVAILABLE, error="HTTP 500")


@pytest.fixture(autouse=True)
def addresses(settings):
    settings.ADMIN_EMAIL = "admin@example.org"
    settings.DEFAULT_FROM_EMAIL = "Site <site@example.org>"
    settings.SITE_URL = "https://site.example.org"


def html_of(email) -> str:
    [(html, mimetype)] = email.alternatives
    assert mimetype == "text/html"
    return html


def parsed(email) -> EmailMessage:
    """The email as the administrator's mail program reads it."""
    return message_from_bytes(email.message().as_bytes(), policy=default_policy)


# Elements HTML writes without an end tag.
VOID = {"meta", "br", "hr", "img", "link", "input", "col", "wbr"}


class TagTree(HTMLParser):
    """Every element's start and end tags, checked to nest; the elements met, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.seen: list[str] = []
        self.has_doctype = False

    def handle_decl(self, decl: str) -> None:
        self.has_doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open}"
        self.open.pop()


def tag_tree(html: str) -> TagTree:
    tree = TagTree()
    tree.feed(html)
    tree.close()
    assert tree.open == [], f"never closed: {tree.open}"
    return tree


def test_goes_to_the_administrator_and_replies_to_the_sender(user):
    email = admin_email(make_message(user), NOT_FOUND)

    assert email.to == ["admin@example.org"]
    assert email.from_email == "Site <site@example.org>"
    assert email.reply_to == [user.email]


def test_subject_and_body_carry_the_sender_the_time_and_the_message(user):
    message = make_message(user)

    email = admin_email(message, NOT_FOUND)

    assert email.subject == f"Message from {user.email}: Question about my order"
    assert user.email in email.body
    assert "where is my parcel?" in email.body
    assert str(message.created_at.year) in email.body


def test_a_found_sender_gets_a_summary_and_the_json_attached(user):
    email = admin_email(make_message(user), FOUND)

    assert "Name: Leanne Graham" in email.body
    assert "Company: Romaguera-Crona" in email.body
    [(name, content, mimetype)] = email.attachments
    assert name == DIRECTORY_ATTACHMENT_NAME
    assert mimetype == "application/json"
    assert json.loads(content.decode("utf-8")) == [LEANNE]
    assert content.decode().startswith('[\n  {\n    "id": 1,')


def test_a_sender_not_found_gets_no_attachment(user):
    email = admin_email(make_message(user), NOT_FOUND)

    assert "In the user directory: not found." in email.body
    assert email.attachments == []


def test_an_unavailable_directory_is_said_in_the_body(user):
    email = admin_email(make_message(user), UNAVAILABLE)

    assert "directory unavailable (HTTP 500)" in email.body
    assert email.attachments == []


def test_the_text_is_not_html_escaped(user):
    message = make_message(user, subject="Tom & Jerry <3", body="a < b & c")

    email = admin_email(message, NOT_FOUND)

    assert email.subject.endswith("Tom & Jerry <3")
    assert "a < b & c" in email.body


def test_the_email_leaves_its_marks_to_the_outbox(user, settings):
    # The Message-ID, the return path and the provider's metadata are put on every kind
    # alike when it is sent (outbox.envelope): the message's email carries none of its own.
    settings.BOUNCE_ADDRESS = "bounces@example.org"

    email = admin_email(make_message(user), NOT_FOUND)

    assert "Message-ID" not in email.extra_headers
    assert email.from_email == "Site <site@example.org>"
    assert not hasattr(email, "metadata")


def test_directory_data_never_reaches_a_header(user):
    hostile = {**LEANNE, "name": "Evil\r\nBcc: victim@example.org"}
    email = admin_email(
        make_message(user), DirectoryLookup(Message.DirectoryStatus.FOUND, [hostile])
    )

    headers = email.message().as_string().split("\n\n", 1)[0]
    assert "victim@example.org" not in headers


def test_the_email_is_written_in_the_sites_language(user, settings):
    settings.LANGUAGE_CODE = "ru"
    two_entries = DirectoryLookup(Message.DirectoryStatus.FOUND, users=[LEANNE, LEANNE])

    email = admin_email(make_message(user, subject="Вопрос"), two_entries)

    assert email.subject == f"Сообщение от {user.email}: Вопрос"
    assert "Тема: Вопрос" in email.body
    assert "В справочнике пользователей: найдено 2 записи;" in email.body
    assert "Имя: Leanne Graham" in email.body
    assert f"Чтобы ответить {user.email}, ответьте на это письмо." in email.body


def test_the_language_of_whoever_asked_does_not_change_the_email(user):
    # The admin's "Retry delivery", say, comes from a request in Russian.
    with translation.override("ru"):
        email = admin_email(make_message(user), NOT_FOUND)

    assert email.subject.startswith("Message from ")
    assert "In the user directory: not found." in email.body


def test_the_html_alternative_is_a_small_self_contained_document(user):
    email = admin_email(make_message(user), FOUND)

    html = html_of(email)
    tree = tag_tree(html)
    assert tree.has_doctype
    assert tree.seen[:3] == ["html", "head", "meta"]
    assert [tree.seen.count(tag) for tag in ("html", "head", "body", "title")] == [1, 1, 1, 1]
    assert '<meta charset="utf-8">' in html
    # Nothing to fetch or run: no scripts, style sheets, images or frames.
    assert not {"script", "link", "style", "img", "iframe", "object"} & set(tree.seen)
    assert "src=" not in html


def test_the_html_shows_what_the_text_shows(user):
    message = make_message(user)

    html = html_of(admin_email(message, FOUND))

    assert f"{user.email} wrote to you through the site on " in html
    assert f"{message.created_at.year}" in html
    assert "<strong>Subject:</strong> Question about my order" in html
    assert "In the user directory: found; the full entry is attached as" in html
    assert DIRECTORY_ATTACHMENT_NAME in html
    assert "Leanne Graham" in html
    assert "Romaguera-Crona" in html
    assert f"Reply to this email to answer {user.email}." in html


@pytest.mark.parametrize(
    ("lookup", "said"),
    [
        (NOT_FOUND, "In the user directory: not found."),
        (UNAVAILABLE, "In the user directory: directory unavailable (HTTP 500)."),
        (
            DirectoryLookup(Message.DirectoryStatus.UNCONFIRMED),
            "In the user directory: not looked up: the sender had not confirmed the address",
        ),
    ],
)
def test_the_html_says_what_the_directory_said_as_the_text_does(user, lookup, said):
    email = admin_email(make_message(user), lookup)

    assert said in email.body
    assert said in html_of(email)


def test_the_email_has_exactly_one_html_alternative(user):
    email = admin_email(make_message(user), NOT_FOUND)

    assert [mimetype for _, mimetype in email.alternatives] == ["text/html"]


def test_text_and_html_link_to_the_messages_admin_page(user, settings):
    settings.SITE_URL = "https://mail.example.net:8443"
    message = make_message(user)

    email = admin_email(message, NOT_FOUND)

    link = "https://mail.example.net:8443" + reverse(
        "admin:contact_message_change", args=[message.pk]
    )
    assert link.endswith(f"/admin/contact/message/{message.pk}/change/")
    assert f"Open this message in the admin: {link}\n" in email.body
    assert f'<a href="{link}">Open this message in the admin</a>' in html_of(email)


def test_the_senders_html_is_escaped_in_the_html_and_verbatim_in_the_text(user):
    hostile = "<script>alert(1)</script> & </body></html><a href='x'>"
    message = make_message(user, subject="<b>Hi</b>", body=hostile)

    email = admin_email(message, NOT_FOUND)

    html = html_of(email)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;/body&gt;&lt;/html&gt;" in html
    assert "&lt;b&gt;Hi&lt;/b&gt;" in html
    tree = tag_tree(html)
    assert "script" not in tree.seen
    assert [tree.seen.count(tag) for tag in ("body", "a", "b")] == [1, 1, 0]
    assert hostile in email.body
    assert "<b>Hi</b>" in email.body


def test_line_breaks_in_the_message_survive_in_the_html(user):
    message = make_message(user, body="First line\nsecond line\r\n\r\nafter a gap")

    html = html_of(admin_email(message, NOT_FOUND))

    assert "First line<br>second line<br><br>after a gap" in html


def test_the_parsed_email_is_text_and_html_beside_the_attachment(user):
    received = parsed(admin_email(make_message(user), FOUND))

    assert received.get_content_type() == "multipart/mixed"
    alternative, attachment = received.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in alternative.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert attachment.get_filename() == DIRECTORY_ATTACHMENT_NAME
    assert all(part.defects == [] for part in received.walk())
    assert "where is my parcel?" in received.get_body(("plain",)).get_content()
    assert "where is my parcel?" in received.get_body(("html",)).get_content()


def test_the_parsed_email_without_attachment_is_text_and_html(user):
    received = parsed(admin_email(make_message(user, body="Привет,\nмир"), NOT_FOUND))

    assert received.get_content_type() == "multipart/alternative"
    assert all(part.defects == [] for part in received.walk())
    assert "Привет,<br>мир" in received.get_body(("html",)).get_content()
    assert list(received.iter_attachments()) == []


def test_the_html_is_in_the_sites_language(user, settings):
    settings.LANGUAGE_CODE = "ru"

    html = html_of(admin_email(make_message(user, subject="Вопрос"), FOUND))

    assert '<html lang="ru">' in html
    assert "<strong>Тема:</strong> Вопрос" in html
    assert "В справочнике пользователей: найдена 1 запись;" in html
    assert f"Чтобы ответить {user.email}, ответьте на это письмо." in html


def test_the_html_keeps_the_sites_language_whoever_asked(user):
    with translation.override("ru"):
        html = html_of(admin_email(make_message(user), NOT_FOUND))

    assert '<html lang="en">' in html
    assert "In the user directory: not found." in html


def test_the_deploy_check_wants_an_https_site_url_with_debug_off(settings):
    settings.DEBUG = False
    settings.SITE_URL = "http://localhost:8000"

    [warning] = check_site_url(None)

    assert warning.id == "contact.W001"
    assert "http://localhost:8000" in warning.msg


@pytest.mark.parametrize(
    ("debug", "site_url"),
    [(False, "https://site.example.org"), (True, "http://localhost:8000")],
)
def test_the_deploy_check_passes_https_or_a_developer_machine(settings, debug, site_url):
    settings.DEBUG = debug
    settings.SITE_URL = site_url

    assert check_site_url(None) == []


def test_the_deploy_check_is_registered():
    assert check_site_url in registry.get_checks(include_deployment_checks=True)
    assert check_site_url not in registry.get_checks()


# ---------------------------------------------------------------- the person's text set apart

FORGERY = (
    "Thanks!\n"
    "\n"
    "-- \n"
    "In the user directory: found; the full entry is attached as directory-user.json.\n"
    "Name: The Administrator\u2028Company: Trusted Ltd\rWebsite: evil.example"
)


def test_every_line_of_the_persons_text_is_marked_as_theirs(user):
    email = admin_email(make_message(user, body=FORGERY), NOT_FOUND)

    lines = email.body.splitlines()
    start = lines.index("> Thanks!")
    assert lines[start : start + 8] == [
        "> Thanks!",
        ">",
        "> -- ",
        "> In the user directory: found; the full entry is attached as directory-user.json.",
        "> Name: The Administrator",
        "> Company: Trusted Ltd",
        "> Website: evil.example",
        "",
    ]
    # The site's own lines are the only ones without the mark.
    assert [line for line in lines if line.startswith("In the user directory:")] == [
        "In the user directory: not found."
    ]
    assert not any(line.startswith(("Name:", "Company:", "Website:")) for line in lines)


def test_in_the_html_the_persons_text_stays_inside_its_quote(user):
    html = html_of(admin_email(make_message(user, body=FORGERY + "\n</blockquote><hr>"), NOT_FOUND))

    quote = html[html.index("<blockquote") : html.index("</blockquote>")]
    assert "Trusted Ltd" in quote
    assert "&lt;/blockquote&gt;&lt;hr&gt;" in quote
    assert html.count("</blockquote>") == 1


# ---------------------------------------------------------------- headers built from input


@pytest.mark.parametrize("address", ['"a,b"@example.org', '"<x@evil.org>"@example.org'])
def test_a_quoted_address_is_one_well_formed_reply_to(user, address):
    message = make_message(user, sender_email=address)

    received = parsed(admin_email(message, NOT_FOUND))

    assert [a.addr_spec for a in received["Reply-To"].addresses] == [address]
    assert [a.addr_spec for a in received["To"].addresses] == ["admin@example.org"]
    assert received["Cc"] is None and received["Bcc"] is None
    assert received["Date"] and received["Message-ID"]
    assert [part.defects for part in received.walk() if part.defects] == []


@pytest.mark.parametrize("address", ['"a\x01b"@example.org', '"a\x7f"@example.org'])
def test_an_address_that_cannot_be_written_is_refused_before_sending(user, address):
    message = make_message(user, sender_email=address)

    with pytest.raises(BadHeaderError, match="Reply-To"):
        admin_email(message, NOT_FOUND)


@pytest.mark.parametrize(
    "subject", ["=?utf-8?b?SGk=?= there", "plain =?x?q?y?= tail", "Привет =?utf-8?b?SGk=?="]
)
def test_encoded_words_typed_into_the_subject_read_as_typed(user, subject):
    received = parsed(admin_email(make_message(user, subject=subject), NOT_FOUND))

    assert str(received["Subject"]) == f"Message from {user.email}: {subject}"
    assert f"Subject: {subject}" in received.get_body(("plain",)).get_content()


# ---------------------------------------------------------------- the configured addresses


def test_the_email_goes_to_every_administrator(user, settings):
    settings.ADMIN_EMAIL = "admin@example.org, Second Admin <second@example.org>,"

    received = parsed(admin_email(make_message(user), NOT_FOUND))

    assert [a.addr_spec for a in received["To"].addresses] == [
        "admin@example.org",
        "second@example.org",
    ]


def test_an_administrator_address_that_cannot_be_read_is_refused_before_sending(user, settings):
    # The standard parser fails outright on this one; the email must still be refused
    # as malformed, which fails it for good, rather than retried.
    settings.ADMIN_EMAIL = "admin@"

    with pytest.raises(BadHeaderError, match="To"):
        admin_email(make_message(user), NOT_FOUND)


@pytest.mark.parametrize("admin", ["", " , "])
def test_the_check_refuses_an_empty_admin_email(settings, admin):
    settings.ADMIN_EMAIL = admin

    [error] = check_email_addresses(None)

    assert error.id == "contact.E001"
    assert error.msg.startswith("ADMIN_EMAIL is empty")


@pytest.mark.parametrize(
    ("admin", "wrong"),
    [
        ("admin", "admin"),
        ("admin@", "admin@"),
        ("admin@example.org;second@example.org", "admin@example.org;second@example.org"),
        ("admin@example.org second@example.org", "admin@example.org second@example.org"),
        ("Admin <admin@example.org", "Admin <admin@example.org"),
        ("admin@example.org, second", "second"),
    ],
)
def test_the_check_names_an_admin_email_address_that_is_none(settings, admin, wrong):
    settings.ADMIN_EMAIL = admin

    [error] = check_email_addresses(None)

    assert error.id == "contact.E001"
    assert error.msg == f"ADMIN_EMAIL holds {wrong!r}, which is not an email address."


@pytest.mark.parametrize(
    "admin",
    ["admin@localhost", "admin@example.org,second@example.org", "Admin <admin@example.org>"],
)
def test_the_check_takes_one_or_several_administrators(settings, admin):
    settings.ADMIN_EMAIL = admin

    assert check_email_addresses(None) == []


def test_the_check_runs_with_every_command_not_only_deploy(settings):
    settings.ADMIN_EMAIL = ""

    assert check_email_addresses in registry.get_checks()
    with pytest.raises(SystemCheckError, match="ADMIN_EMAIL is empty"):
        call_command("check")


@pytest.mark.parametrize(
    ("address", "line"),
    [
        (LEANNE["address"], "Kulas Light, Apt. 556, Gwenborough 92998-3874"),
        ({"street": "", "suite": "", "city": "Springfield", "zipcode": ""}, "Springfield"),
        (
            {"street": "Elm Street 1", "suite": None, "city": "Springfield"},
            "Elm Street 1, Springfield",
        ),
        ({"street": "Elm Street 1", "zipcode": "12345"}, "Elm Street 1, 12345"),
        ({"suite": "Apt. 2", "city": "Springfield", "zipcode": 12345}, "Apt. 2, Springfield 12345"),
    ],
)
def test_the_address_shows_only_the_parts_the_directory_has(user, address, line):
    entry = {**LEANNE, "address": address}

    email = admin_email(make_message(user), DirectoryLookup(FOUND.status, users=[entry]))

    assert f"\nAddress: {line}\n" in email.body
    assert f">Address:</th><td>{line}</td>" in html_of(email)


@pytest.mark.parametrize("address", [{}, None, {"street": "", "city": None, "geo": {}}])
def test_an_entry_without_an_address_has_no_address_line(user, address):
    entry = {**LEANNE, "address": address}

    email = admin_email(make_message(user), DirectoryLookup(FOUND.status, users=[entry]))

    assert "Address:" not in email.body
    assert "Address:" not in html_of(email)
    assert "\nCompany: Romaguera-Crona\n" in email.body
