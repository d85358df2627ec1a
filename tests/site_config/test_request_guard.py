"""What the site refuses before it reads a request's body: a file part (the site takes no
files) and a body longer than its fields may be. Both answer 400 and store nothing;
forms without files go on working, urlencoded or multipart."""

import io
import os
from pathlib import Path

import pytest
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse

from contact.models import Message
from tests.conftest import GOOD_PASSWORD

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


class WatchedBody(io.BytesIO):
    """A request body that notes, each time the site reads from it, which files the
    upload folder holds at that moment."""

    def __init__(self, data: bytes, folder: Path) -> None:
        super().__init__(data)
        self.folder = folder
        self.seen: set[str] = set()

    def read(self, size: int | None = -1) -> bytes:
        self.seen.update(os.listdir(self.folder))
        return super().read(size)


@pytest.fixture
def upload_folder(settings, tmp_path) -> Path:
    # A small memory limit, so that a file part Django took would go to this folder.
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    return tmp_path


@pytest.mark.parametrize(
    ("page", "signed_in", "fields"),
    [
        ("login", False, {"username": "ann.lee@example.org", "password": GOOD_PASSWORD}),
        ("message-new", True, {"subject": "Hello", "body": "A file for you"}),
    ],
)
def test_a_file_part_is_refused_before_a_byte_is_stored(
    client, user, upload_folder, page, signed_in, fields
):
    if signed_in:
        client.force_login(user)
    content = b"x" * 300_000
    data = encode_multipart(BOUNDARY, {**fields, "attachment": io.BytesIO(content)})
    body = WatchedBody(data, upload_folder)

    response = client.generic(
        "POST", reverse(page), data, content_type=MULTIPART_CONTENT, **{"wsgi.input": body}
    )

    assert response.status_code == 400
    assert "<h1>Bad request</h1>" in response.content.decode()
    assert body.seen == set() and os.listdir(upload_folder) == []
    # Nor was the file read into memory: the site stopped at the part's headers.
    assert body.tell() < len(content)
    assert not response.wsgi_request.FILES
    assert not Message.objects.exists()


@pytest.mark.parametrize("content_type", [MULTIPART_CONTENT, FORM])
def test_a_body_longer_than_the_fields_may_be_is_refused_unread(
    client, settings, upload_folder, content_type
):
    data = encode_multipart(BOUNDARY, {"username": "ann.lee@example.org", "password": "x"})
    body = WatchedBody(data, upload_folder)

    response = client.generic(
        "POST",
        reverse("login"),
        data,
        content_type=content_type,
        CONTENT_LENGTH=str(200 * 1024 * 1024),
        **{"wsgi.input": body},
    )

    assert response.status_code == 400
    assert "<h1>Bad request</h1>" in response.content.decode()
    assert body.tell() == 0


def test_a_content_length_that_is_no_number_is_a_bad_request(client):
    response = client.generic(
        "POST", reverse("login"), b"username=a", content_type=FORM, CONTENT_LENGTH="ten"
    )

    assert response.status_code == 400


def test_a_multipart_sign_in_without_files_still_works(client, user):
    data = encode_multipart(BOUNDARY, {"username": user.email, "password": GOOD_PASSWORD})

    response = client.generic("POST", reverse("login"), data, content_type=MULTIPART_CONTENT)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_a_message_up_to_the_fields_limit_still_goes(client, user):
    client.force_login(user)

    response = client.post(reverse("message-new"), {"subject": "Hello", "body": "x" * 5000})

    assert response.status_code < 400
    assert Message.objects.get().body == "x" * 5000
