"""A person's browser, as the site sees it: cookies, the CSRF token sent as a header
the way htmx sends it, and HX-Request on every form post."""

import re
from typing import Protocol

import httpx


class Mailbox(Protocol):
    """Where a visitor reads the site's emails to them (tests.standins.smtp.SmtpSink)."""

    def link(self, *, to: str, path: str, timeout: float = 30) -> str: ...


# The production settings (DEBUG off), served over plain HTTP on loopback, as the system
# tests run the site: no HTTPS redirect, cookies that travel without TLS.
PRODUCTION_ON_LOOPBACK = {
    "SECRET_KEY": "system-test-" + "s" * 40 + "0123456789",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "127.0.0.1",
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
}


class Visitor:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=15)

    def close(self) -> None:
        self.http.close()

    def htmx_post(self, path: str, data: dict[str, str]) -> httpx.Response:
        headers = {"HX-Request": "true", "X-CSRFToken": self.http.cookies["csrftoken"]}
        response = self.http.post(path, data=data, headers=headers)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        return response

    def sign_up(self, email: str, password: str, mailbox: Mailbox) -> None:
        """Sign up, and confirm the address as a person does: read the link from the
        email (taken out of `mailbox`), sign in, and press the button it leads to."""
        self.http.get("/accounts/register/")
        answer = self.htmx_post(
            "/accounts/register/", {"email": email, "password1": password, "password2": password}
        )
        assert answer.headers["HX-Redirect"] == "/accounts/register/done/", answer.text[:500]
        link = mailbox.link(to=email, path="/accounts/confirm/")
        self.sign_in(email, password)
        assert "Confirm my address" in self.http.get(link).text
        headers = {"X-CSRFToken": self.http.cookies["csrftoken"]}
        confirmed = self.http.post(link, headers=headers)
        assert confirmed.status_code == 302, (confirmed.status_code, confirmed.text[:500])
        self.http.get("/")

    def sign_in(self, email: str, password: str) -> None:
        self.http.get("/accounts/login/")
        answer = self.htmx_post("/accounts/login/", {"username": email, "password": password})
        assert answer.headers["HX-Redirect"] == "/", answer.text[:500]
        self.http.get("/")

    def sign_out(self) -> None:
        headers = {"X-CSRFToken": self.http.cookies["csrftoken"]}
        assert self.http.post("/accounts/logout/", headers=headers).status_code == 302

    def send_message(self, subject: str, body: str) -> None:
        answer = self.htmx_post("/messages/new/", {"subject": subject, "body": body})
        confirmation = f"Your message “{subject}” is on its way to the administrator."
        assert confirmation in answer.text, answer.text[:500]

    def admin_header(self, email: str, password: str) -> str:
        """Sign in to the admin and return its index page's delivery counts."""
        self.http.get("/admin/login/")
        token = self.http.cookies["csrftoken"]
        self.http.post(
            "/admin/login/?next=/admin/",
            data={"username": email, "password": password, "csrfmiddlewaretoken": token},
        )
        page = self.http.get("/admin/").text
        start = page.index('<div id="delivery-counts">') + len('<div id="delivery-counts">')
        counts = re.sub(r"<[^>]+>", "", page[start : page.index("</div>", start)])
        return " ".join(counts.split()).replace("( ", "(")
