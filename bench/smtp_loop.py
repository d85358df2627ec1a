"""Item 3's baseline: a plain smtplib loop, one connection per email, sending emails
shaped like the site's (a text body and the directory's JSON attached) to the SMTP sink.

Run as its own process (`python -m bench.smtp_loop PORT COUNT`), as the worker is, so
that it does not share the sink's interpreter; prints the seconds it took.
"""

import json
import smtplib
import sys
import time
from email.message import EmailMessage

from tests.standins.directory import USERS

BODY = "Hello,\n\n" + "I am writing about the benchmark of this site. " * 8


def email(number: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "site@example.org"
    message["To"] = "admin@example.org"
    message["Reply-To"] = USERS[0]["email"]
    message["Subject"] = f"Message from {USERS[0]['email']}: smtplib message {number}"
    message.set_content(BODY)
    message.add_attachment(
        json.dumps([USERS[0]], indent=2).encode(),
        maintype="application",
        subtype="json",
        filename="directory-user.json",
    )
    return message


def send_all(port: int, count: int) -> float:
    started = time.perf_counter()
    for number in range(count):
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as connection:
            connection.send_message(email(number))
    return time.perf_counter() - started


if __name__ == "__main__":
    print(send_all(int(sys.argv[1]), int(sys.argv[2])))
