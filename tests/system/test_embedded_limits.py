"""The embedded mode (no Redis) under gunicorn with several workers: the address limits
count once for the whole site, in the database cache, not once per worker process."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.standins.smtp import free_port
from tests.system.topology import wait_until_started
from tests.system.visitor import PRODUCTION_ON_LOOPBACK

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 12
WORKERS = 3


@pytest.fixture
def gunicorn_without_redis(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        **PRODUCTION_ON_LOOPBACK,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "REDIS_URL": "",
        "STATIC_ROOT": str(tmp_path / "static"),
        "SIGNUPS_PER_HOUR": str(LIMIT),
        "WEB_CONCURRENCY": str(WORKERS),
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    for command in (["migrate", "--no-input", "-v0"], ["createcachetable"]):
        subprocess.run([*manage, *command], env=env, check=True)
    subprocess.run([*manage, "collectstatic", "--no-input", "-v0"], env=env, check=True)
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "-c", "python:site_config.gunicorn",
            "--bind", f"127.0.0.1:{port}", "site_config.wsgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_started(server, lambda: answers(base_url), "gunicorn")
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=15)


def answers(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_every_worker_counts_the_same_limit(gunicorn_without_redis):
    base_url = gunicorn_without_redis
    with httpx.Client(base_url=base_url, timeout=15) as browser:
        browser.get("/accounts/register/")
        token = browser.cookies["csrftoken"]

    def sign_up(number: int) -> int:
        # A connection of its own each; each sign-up that gets through hashes its
        # password (Argon2), which keeps a worker busy long enough for the others to
        # take the next ones.
        with httpx.Client(base_url=base_url, cookies={"csrftoken": token}, timeout=30) as client:
            password = "plum-harbour-lantern-42"
            answer = client.post(
                "/accounts/register/",
                data={
                    "email": f"p{number}@example.org",
                    "password1": password,
                    "password2": password,
                },
                headers={"X-CSRFToken": token},
            )
            return answer.status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(sign_up, range(3 * LIMIT)))

    # One limit for the site: exactly LIMIT sign-ups through, the rest refused.
    assert (statuses.count(302), statuses.count(429)) == (LIMIT, 2 * LIMIT), statuses
