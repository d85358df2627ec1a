import logging

import pytest
from django.db import connection
from django.urls import reverse
from dramatiq.brokers.redis import RedisBroker

from tests.standins.smtp import free_port


def test_healthz_answers_without_touching_the_database(client):
    # No django_db mark: any database access in the request would fail the test.
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response.content == b"ok\n"


@pytest.mark.django_db
def test_readyz_reports_the_database_and_broker_ready(client):
    response = client.get(reverse("readyz"))

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}


def logged_errors(caplog) -> str:
    """The text of the warnings /readyz logged, with their tracebacks."""
    return "\n".join(
        caplog.handler.format(record)
        for record in caplog.records
        if record.name == "site_config.health" and record.levelno >= logging.WARNING
    )


@pytest.mark.django_db
def test_readyz_names_an_unreachable_broker_and_logs_why(client, monkeypatch, caplog):
    # A real Redis broker on a port nothing listens on.
    port = free_port()
    unreachable = RedisBroker(url=f"redis://127.0.0.1:{port}/0")
    monkeypatch.setattr("dramatiq.get_broker", lambda: unreachable)

    response = client.get(reverse("readyz"))

    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "unavailable"}
    assert str(port) not in response.content.decode()
    assert "ConnectionError" in logged_errors(caplog) and str(port) in logged_errors(caplog)


@pytest.mark.django_db
def test_readyz_names_an_unreachable_database_and_tells_only_the_log(client, monkeypatch, caplog):
    detail = 'connection to server at "db.internal" (10.0.0.5), port 5432 failed: "site_prod"'

    def refuse(*args, **kwargs):
        raise connection.Database.OperationalError(detail)

    # No local stand-in can make the test database vanish under a running test.
    monkeypatch.setattr(connection, "ensure_connection", refuse)

    response = client.get(reverse("readyz"))

    assert response.status_code == 503
    assert response.json() == {"database": "unavailable", "broker": "ok"}
    for secret in ("db.internal", "10.0.0.5", "5432", "site_prod", "OperationalError"):
        assert secret not in response.content.decode()
    assert detail in logged_errors(caplog)


@pytest.mark.django_db
def test_readyz_names_a_database_connection_that_does_not_answer(client, monkeypatch, caplog):
    monkeypatch.setattr(connection, "is_usable", lambda: False)

    response = client.get(reverse("readyz"))

    assert response.status_code == 503
    assert response.json() == {"database": "unavailable", "broker": "ok"}
    assert "does not answer" in logged_errors(caplog)


def test_probes_are_exempt_from_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get(reverse("healthz")).status_code == 200
    assert client.get(reverse("home")).status_code == 301
