import importlib
import multiprocessing
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from site_config import gunicorn
from tests.conftest import wait_until
from tests.standins.smtp import free_port


def settings_with(monkeypatch, **environ: str):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return importlib.reload(gunicorn)


def test_two_workers_per_core_and_one_more_by_default(monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.setattr(multiprocessing, "cpu_count", lambda: 2)

    assert settings_with(monkeypatch).workers == 5


def test_web_concurrency_sets_the_workers(monkeypatch):
    assert settings_with(monkeypatch, WEB_CONCURRENCY="3").workers == 3


def test_an_empty_web_concurrency_is_the_default(monkeypatch):
    monkeypatch.setattr(multiprocessing, "cpu_count", lambda: 4)

    assert settings_with(monkeypatch, WEB_CONCURRENCY="").workers == 9


def test_gunicorn_logs_json_lines_like_the_site_in_production(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    config = settings_with(monkeypatch, DEBUG="false", LOG_LEVEL="warning")

    handler = config.logconfig_dict["handlers"]["stderr"]
    assert handler["formatter"] == "json"
    assert handler["filters"] == ["request_id"]
    for name in ("gunicorn.error", "gunicorn.access"):
        assert config.logconfig_dict["loggers"][name]["level"] == "WARNING"
    assert "request_id=%({x-request-id}o)s" in config.access_log_format


def test_gunicorn_logs_plain_lines_on_a_developers_machine(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    config = settings_with(monkeypatch, DEBUG="true")

    assert config.logconfig_dict["handlers"]["stderr"]["formatter"] == "plain"


def test_each_start_counts_requests_in_a_fresh_folder(monkeypatch, tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_123.db").write_bytes(b"old figures")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))

    gunicorn.on_starting(server=None)

    assert folder.is_dir() and list(folder.iterdir()) == []


def test_without_a_tls_proxy_gunicorn_believes_no_forwarded_header(monkeypatch):
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)

    assert settings_with(monkeypatch, BEHIND_HTTPS_PROXY="false").forwarded_allow_ips == ""


def test_behind_a_tls_proxy_gunicorn_believes_the_proxy_only(monkeypatch):
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    assert settings_with(monkeypatch, BEHIND_HTTPS_PROXY="true").forwarded_allow_ips == (
        "127.0.0.1,::1"
    )

    proxied = settings_with(monkeypatch, BEHIND_HTTPS_PROXY="true", FORWARDED_ALLOW_IPS="10.0.0.2")
    assert proxied.forwarded_allow_ips == "10.0.0.2"


@pytest.mark.parametrize(
    ("proxies", "believed"), [("192.0.2.1", False), ("127.0.0.1", True)], ids=["stranger", "proxy"]
)
def test_only_the_proxy_may_say_a_request_came_over_https(tmp_path, proxies, believed):
    # The real server, as the image runs it: a request from loopback is the proxy's only
    # when FORWARDED_ALLOW_IPS names loopback. HSTS is sent on HTTPS answers alone.
    port = free_port()
    environment = {
        "PATH": os.environ["PATH"],
        "SECRET_KEY": "k" * 20 + secrets.token_urlsafe(40),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "BEHIND_HTTPS_PROXY": "true",
        "FORWARDED_ALLOW_IPS": proxies,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "-c",
            "python:site_config.gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "site_config.wsgi:application",
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        assert wait_until(lambda: answers(url), timeout=60), "gunicorn did not start"

        response = httpx.get(url, headers={"X-Forwarded-Proto": "https"})

        assert response.status_code == 200
        assert ("strict-transport-security" in response.headers) is believed
    finally:
        server.terminate()
        server.wait(timeout=30)


def answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.TransportError:
        return False
