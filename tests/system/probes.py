"""Hostile input against a running site, sent as an attacker sends it, over HTTP: every
body of tests/hostile.py to every endpoint that takes a POST, with and without htmx's
headers. The embedded-mode and production-topology tests run them and keep the list of
what went wrong, which must be empty."""

from tests.hostile import BODIES, ENDPOINTS
from tests.system.visitor import Visitor


def probe(visitor: Visitor) -> list[str]:
    """What the site answered wrongly: a server error, or a 400 that is not the site's
    own page with its security headers."""
    visitor.http.get("/accounts/login/")
    token = visitor.http.cookies["csrftoken"]
    problems = []
    for path in ENDPOINTS:
        for name, (content_type, body) in BODIES.items():
            for htmx in ({}, {"HX-Request": "true"}):
                headers = {"Content-Type": content_type, "X-CSRFToken": token, **htmx}
                answer = visitor.http.post(path, content=body, headers=headers)
                where = f"{path} with {name}{' by htmx' if htmx else ''}"
                if answer.status_code >= 500:
                    problems.append(f"{where}: {answer.status_code}")
                elif answer.status_code == 400 and (
                    "<h1>Bad request</h1>" not in answer.text
                    or "Content-Security-Policy" not in answer.headers
                ):
                    problems.append(f"{where}: a 400 that is not the site's own page")
    return problems
