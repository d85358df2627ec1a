"""The settings module, loaded in a fresh interpreter from a copy of the project root,
so each test controls both the environment and the `.env` file it sees."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import site_config.log_config
import site_config.settings

STRONG_KEY = "k" * 30 + "0123456789abcdefghij"
# Run in the fresh interpreter: load the settings, print what the tests look at.
REPORT = """
import json
import os
import site_config.settings as s

print(json.dumps({
    "DEBUG": s.DEBUG,
    "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "TIME_ZONE": s.TIME_ZONE,
    "LANGUAGE_CODE": s.LANGUAGE_CODE,
    "CSRF_TRUSTED_ORIGINS": s.CSRF_TRUSTED_ORIGINS,
    "DATABASE": s.DATABASES["default"],
    "COOKIES": [
        s.SESSION_COOKIE_SECURE,
        s.SESSION_COOKIE_HTTPONLY,
        s.SESSION_COOKIE_SAMESITE,
        s.CSRF_COOKIE_SECURE,
        s.CSRF_COOKIE_HTTPONLY,
    ],
    "HSTS": s.SECURE_HSTS_SECONDS,
    "SSL_REDIRECT": s.SECURE_SSL_REDIRECT,
    "TASK_MIDDLEWARE": s.DRAMATIQ_BROKER["MIDDLEWARE"],
    "WORKER_METRICS_HOST": os.environ.get("dramatiq_prom_host"),
    "RETRY_BACKOFF": s.MESSAGE_RETRY_BACKOFF,
    "KEEP_CONNECTION": s.EMAIL_KEEP_CONNECTION,
}))
"""


def load_settings(
    root: Path, *, environ: dict[str, str], dotenv: str | None = None
) -> subprocess.CompletedProcess:
    (root / "site_config").mkdir(parents=True, exist_ok=True)
    (root / "site_config" / "__init__.py").touch()
    shutil.copy(site_config.settings.__file__, root / "site_config" / "settings.py")
    # The one module settings.py imports of ours.
    shutil.copy(site_config.log_config.__file__, root / "site_config" / "log_config.py")
    if dotenv is not None:
        (root / ".env").write_text(dotenv)
    return subprocess.run(
        [sys.executable, "-c", REPORT],
        cwd=root,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(root), **environ},
        capture_output=True,
        text=True,
        check=False,
    )


def loaded(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_dotenv_is_read_when_present(tmp_path):
    result = load_settings(
        tmp_path, environ={}, dotenv=f"SECRET_KEY={STRONG_KEY}\nTIME_ZONE=Europe/Moscow\n"
    )

    assert loaded(result)["TIME_ZONE"] == "Europe/Moscow"


def test_environment_wins_over_dotenv(tmp_path):
    result = load_settings(
        tmp_path,
        environ={"TIME_ZONE": "Asia/Tokyo"},
        dotenv=f"SECRET_KEY={STRONG_KEY}\nTIME_ZONE=Europe/Moscow\n",
    )

    assert loaded(result)["TIME_ZONE"] == "Asia/Tokyo"


def test_defaults_are_safe_and_use_sqlite_under_var(tmp_path):
    settings = loaded(load_settings(tmp_path, environ={"SECRET_KEY": STRONG_KEY}))

    assert settings["DEBUG"] is False
    assert settings["DATABASE"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings["DATABASE"]["NAME"] == str(tmp_path / "var" / "db.sqlite3")
    assert settings["LANGUAGE_CODE"] == "en"


def test_lists_and_database_url_come_from_the_environment(tmp_path):
    settings = loaded(
        load_settings(
            tmp_path,
            environ={
                "SECRET_KEY": STRONG_KEY,
                "ALLOWED_HOSTS": "a.example,b.example",
                "CSRF_TRUSTED_ORIGINS": "https://a.example",
                "DATABASE_URL": "postgres://site:pw@db.internal:5432/site",
            },
        )
    )

    assert settings["ALLOWED_HOSTS"] == ["a.example", "b.example"]
    assert settings["CSRF_TRUSTED_ORIGINS"] == ["https://a.example"]
    assert settings["DATABASE"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings["DATABASE"]["HOST"] == "db.internal"
    # Kept connections, checked before a request uses them.
    assert settings["DATABASE"]["CONN_MAX_AGE"] == 60
    assert settings["DATABASE"]["CONN_HEALTH_CHECKS"] is True


def test_missing_secret_key_stops_start_up_and_says_what_to_set(tmp_path):
    result = load_settings(tmp_path, environ={})

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize(
    "weak_key",
    ["short-key", "ab" * 30, "django-insecure-" + STRONG_KEY],
    ids=["short", "few-distinct-characters", "insecure-prefix"],
)
def test_weak_secret_key_stops_start_up_with_debug_off(tmp_path, weak_key):
    result = load_settings(tmp_path, environ={"SECRET_KEY": weak_key, "DEBUG": "false"})

    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr


def test_weak_secret_key_is_allowed_with_debug_on(tmp_path):
    result = load_settings(tmp_path, environ={"SECRET_KEY": "short-key", "DEBUG": "true"})

    assert loaded(result)["DEBUG"] is True


def test_env_example_lists_every_variable_the_settings_read():
    root = Path(site_config.settings.BASE_DIR)
    source = (root / "site_config" / "settings.py").read_text()
    example = (root / ".env.example").read_text()

    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', source))
    listed = set(re.findall(r"^#?\s*([A-Z_]+)=", example, flags=re.MULTILINE))
    assert read, "found no variables in settings.py"
    assert read <= listed, f"missing from .env.example: {sorted(read - listed)}"


def test_production_cookies_are_secure_http_only_and_same_site(tmp_path):
    settings = loaded(load_settings(tmp_path, environ={"SECRET_KEY": STRONG_KEY}))

    session_secure, session_http_only, same_site, csrf_secure, csrf_http_only = settings["COOKIES"]
    assert session_secure and csrf_secure
    assert session_http_only and csrf_http_only
    assert same_site == "Lax"
    assert settings["HSTS"] == 31_536_000
    assert settings["SSL_REDIRECT"] is True


def test_a_developer_machine_keeps_plain_http_working(tmp_path):
    settings = loaded(load_settings(tmp_path, environ={"SECRET_KEY": STRONG_KEY, "DEBUG": "true"}))

    assert settings["COOKIES"][0] is False
    assert settings["SSL_REDIRECT"] is False


PROMETHEUS = "dramatiq.middleware.prometheus.Prometheus"
DEVELOPER = {"SECRET_KEY": STRONG_KEY, "DEBUG": "true"}


def test_workers_export_metrics_on_loopback_with_the_redis_broker(tmp_path):
    settings = loaded(
        load_settings(tmp_path, environ={**DEVELOPER, "REDIS_URL": "redis://127.0.0.1/0"})
    )

    assert settings["TASK_MIDDLEWARE"][0] == PROMETHEUS
    assert settings["WORKER_METRICS_HOST"] == "127.0.0.1"


def test_the_worker_metrics_address_can_be_opened_to_a_network(tmp_path):
    environ = {**DEVELOPER, "REDIS_URL": "redis://127.0.0.1/0", "dramatiq_prom_host": "0.0.0.0"}

    assert loaded(load_settings(tmp_path, environ=environ))["WORKER_METRICS_HOST"] == "0.0.0.0"


def test_the_embedded_mode_has_no_worker_metrics(tmp_path):
    # Its worker threads run inside the web process, with no exposition server forked.
    settings = loaded(load_settings(tmp_path, environ=DEVELOPER))

    assert PROMETHEUS not in settings["TASK_MIDDLEWARE"]


@pytest.mark.parametrize("address", ["bounces", "bounces+x@example.org", "a b@example.org"])
def test_a_bounce_address_that_cannot_carry_a_tag_stops_start_up(tmp_path, address):
    result = load_settings(tmp_path, environ={"SECRET_KEY": STRONG_KEY, "BOUNCE_ADDRESS": address})

    assert result.returncode != 0
    assert "BOUNCE_ADDRESS must be a plain address" in result.stderr


@pytest.mark.parametrize("proxies", ["nginx", "10.0.0.5,10.0.0.0/33", "10.0.0.5;10.0.0.6"])
def test_a_proxy_address_that_is_none_stops_start_up(tmp_path, proxies):
    result = load_settings(
        tmp_path, environ={"SECRET_KEY": STRONG_KEY, "FORWARDED_ALLOW_IPS": proxies}
    )

    assert result.returncode != 0
    assert "FORWARDED_ALLOW_IPS holds" in result.stderr


def test_proxy_addresses_and_networks_are_taken(tmp_path):
    result = load_settings(
        tmp_path,
        environ={"SECRET_KEY": STRONG_KEY, "FORWARDED_ALLOW_IPS": "10.0.0.5, 10.1.0.0/16,::1"},
    )

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("EMAIL_PORT", "abc", "a whole number"),
        ("EMAIL_TIMEOUT", "10.5", "a whole number"),
        ("MESSAGE_RETRY_BACKOFF", "soon", "a number"),
        ("MESSAGE_RETRY_BACKOFF", "10s", "a number"),
        ("DEBUG", "maybe", "true or false"),
        ("SECURE_SSL_REDIRECT", "", "true or false"),
    ],
)
def test_a_malformed_value_stops_start_up_with_one_line_naming_it(
    tmp_path, variable, value, expected
):
    result = load_settings(tmp_path, environ={"SECRET_KEY": STRONG_KEY, variable: value})

    assert result.returncode != 0
    assert f"ImproperlyConfigured: {variable} must be {expected}, not {value!r}." in result.stderr


def test_numbers_and_switches_are_read_as_written(tmp_path):
    environ = {
        "SECRET_KEY": STRONG_KEY,
        "MESSAGE_RETRY_BACKOFF": "1e3",
        "EMAIL_KEEP_CONNECTION": "No",
    }

    settings = loaded(load_settings(tmp_path, environ=environ))

    assert settings["RETRY_BACKOFF"] == 1000.0
    assert settings["KEEP_CONNECTION"] is False


def test_manage_py_says_a_malformed_value_in_one_line(tmp_path):
    root = Path(site_config.settings.BASE_DIR)
    environ = {"PATH": os.environ["PATH"], "SECRET_KEY": STRONG_KEY, "EMAIL_PORT": "abc"}

    result = subprocess.run(
        [sys.executable, str(root / "manage.py"), "check"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr == "ImproperlyConfigured: EMAIL_PORT must be a whole number, not 'abc'.\n"
    assert result.stdout == ""
