"""A real IMAP server for the tests: Debian's Dovecot, started on a free loopback port
with a configuration of its own in a temporary folder, holding one mailbox (Maildir)
for the bounce address. Nothing of the system's Dovecot is used or touched."""

import imaplib
import os
import pwd
import shutil
import ssl as ssl_module
import subprocess
import time
from pathlib import Path

from tests.standins.smtp import free_port

DOVECOT = "/usr/sbin/dovecot"
USER, PASSWORD = "bounces", "bounce-mailbox-password"

CONFIG = """
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = test-{port}
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {root}/dovecot.log
mail_location = maildir:{root}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 1
default_internal_user = {internal}
default_login_user = {login}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
"""


def available() -> bool:
    return os.path.exists(DOVECOT)


class DovecotServer:
    """With `tls`, the server speaks IMAP over TLS only (imaps://), with a certificate
    for 127.0.0.1 of its own, `certificate`, which a client must be told to trust."""

    def __init__(self, root: Path, *, tls: bool = False, starttls: bool = False) -> None:
        self.root = root
        self.tls = tls
        # Plain IMAP that signs no one in before STARTTLS.
        self.starttls = starttls
        self.port = free_port()
        self.certificate = root / "certificate.pem"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        scheme = "imaps" if self.tls else "imap"
        return f"{scheme}://{USER}:{PASSWORD}@127.0.0.1:{self.port}/INBOX"

    def start(self) -> "DovecotServer":
        for folder in ("run", "state", "mail"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        if os.getuid() == 0:
            # Dovecot runs no mailbox as root: the package's own users, then.
            mail_user = pwd.getpwnam("dovecot")
            internal, login = "dovecot", "dovenull"
            shutil.chown(self.root / "mail", mail_user.pw_uid, mail_user.pw_gid)
        else:
            mail_user = pwd.getpwuid(os.getuid())
            internal = login = mail_user.pw_name
        (self.root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        ssl = "ssl = no"
        if self.tls or self.starttls:
            self._make_certificate()
            ssl = (
                f"ssl = required\nssl_cert = <{self.certificate}\n"
                f"ssl_key = <{self.root / 'key.pem'}"
            )
        (self.root / "dovecot.conf").write_text(
            CONFIG.format(
                root=self.root,
                port=self.port,
                imap_port=0 if self.tls else self.port,
                imaps_port=self.port if self.tls else 0,
                ssl=ssl,
                uid=mail_user.pw_uid,
                gid=mail_user.pw_gid,
                internal=internal,
                login=login,
            )
        )
        self.root.chmod(0o755)
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                self.session().logout()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"Dovecot did not start: {self.log()}")

    def _make_certificate(self) -> None:
        if self.certificate.exists():
            return
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-keyout",
                str(self.root / "key.pem"),
                "-out",
                str(self.certificate),
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text() if path.exists() else ""

    def session(self) -> imaplib.IMAP4:
        if self.tls:
            context = ssl_module.create_default_context(cafile=str(self.certificate))
            imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                "127.0.0.1", self.port, ssl_context=context, timeout=10
            )
        else:
            imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
            if self.starttls:
                imap.starttls(ssl_module.create_default_context(cafile=str(self.certificate)))
        imap.login(USER, PASSWORD)
        return imap

    def deliver(self, *mails: bytes) -> None:
        """Mails arriving in the inbox, as the mail server delivers them."""
        imap = self.session()
        try:
            for mail in mails:
                kind, data = imap.append("INBOX", None, None, mail)
                assert kind == "OK", data
        finally:
            imap.logout()

    def counts(self) -> dict[str, int]:
        """How many mails each folder holds."""
        imap = self.session()
        try:
            counted = {}
            for folder in ("INBOX", "Processed", "Unmatched"):
                kind, data = imap.select(f'"{folder}"', readonly=True)
                counted[folder] = int(data[0]) if kind == "OK" else 0
            return counted
        finally:
            imap.logout()
