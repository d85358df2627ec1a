"""`make run`'s mode as real processes: Django's development server with no Redis, its
worker threads delivering to files, and the directory stand-in. Driven over HTTP the way
the browser's htmx does it (CSRF header, HX-Request)."""

import email
import json
import os
import re
import subprocess
import sys
from email.policy import default as default_policy
from pathlib import Path

import httpx
import pytest

from tests.conftest import GOOD_PASSWORD, wait_until
from tests.standins.directory import USERS, DirectoryStandIn
from tests.standins.smtp import free_port
from tests.system.probes import probe
from tests.system.topology import wait_until_started
from tests.system.visitor import PRODUCTION_ON_LOOPBACK, Visitor

ROOT = Path(__file__).resolve().parents[2]
# Django's file backend separates the emails of one connection with this line.
FILE_BACKEND_SEPARATOR = b"\n" + b"-" * 79 + b"\n"


@pytest.fixture
def site(tmp_path):
    directory = DirectoryStandIn().start()
    port = free_port()
    env = {
        **os.environ,
        **PRODUCTION_ON_LOOPBACK,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "ADMIN_EMAIL": "admin@example.org",
        "USER_DIRECTORY_URL": directory.url,
        "REDIS_URL": "",
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input", "-v0"], env=env, check=True)
    subprocess.run([*manage, "createcachetable"], env=env, check=True)
    subprocess.run([*manage, "collectstatic", "--no-input", "-v0"], env=env, check=True)
    server = subprocess.Popen(
        [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_started(server, lambda: answers(base_url), "the development server")
        yield base_url, tmp_path / "mail"
    finally:
        server.terminate()
        server.wait(timeout=10)
        directory.stop()


def answers(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def written_emails(folder: Path) -> list[email.message.EmailMessage]:
    found = []
    for path in sorted(folder.glob("*.log")) if folder.exists() else []:
        for raw in path.read_bytes().split(FILE_BACKEND_SEPARATOR):
            if raw.strip():
                found.append(email.message_from_bytes(raw, policy=default_policy))
    return found


class FolderMailbox:
    """The emails Django's file backend wrote, read as a visitor reads their inbox."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def link(self, *, to: str, path: str, timeout: float = 30) -> str:
        def found() -> str | None:
            for written in written_emails(self.folder):
                if written["To"] == to:
                    body = written.get_body(("plain",)).get_content()
                    if match := re.search(rf"https?://[^/\s]+({re.escape(path)}\S*)", body):
                        return match.group(1)
            return None

        assert wait_until(found, timeout=timeout), f"no {path} link was emailed to {to}"
        return str(found())


def test_the_web_process_delivers_email_with_no_other_service(site):
    base_url, mail_folder = site
    visitor = Visitor(base_url)
    # The confirmation email, too, comes from the web process's own worker threads.
    visitor.sign_up("sincere@april.biz", GOOD_PASSWORD, FolderMailbox(mail_folder))
    visitor.send_message("From a real server", "Hello!")
    visitor.close()

    def to_the_administrator() -> list[email.message.EmailMessage]:
        return [e for e in written_emails(mail_folder) if e["To"] == "admin@example.org"]

    assert wait_until(to_the_administrator, timeout=20), "no email was written"
    [written] = to_the_administrator()
    assert written["To"] == "admin@example.org"
    assert written["Subject"] == "Message from sincere@april.biz: From a real server"
    [attachment] = list(written.iter_attachments())
    assert attachment.get_filename() == "directory-user.json"
    assert json.loads(attachment.get_content()) == [USERS[0]]


def test_hostile_requests_get_clear_answers_and_no_server_error(site):
    base_url, mail_folder = site
    stranger = Visitor(base_url)
    person = Visitor(base_url)
    person.sign_up("sincere@april.biz", GOOD_PASSWORD, FolderMailbox(mail_folder))

    assert probe(stranger) == []
    assert probe(person) == []
    stranger.close()
    person.close()
