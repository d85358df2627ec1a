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


@pytest.mark.django_db
def test_readyz_names_an_unreachable_broker(client, monkeypatch):
    # A real Redis broker on a port nothing listens on.
    unreachable = RedisBroker(url=f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setattr("dramatiq.get_broker", lambda: unreachable)

    response = client.get(reverse("readyz"))

    assert response.status_code == 503
    assert response.json()["database"] == "ok"
    assert response.json()["broker"].startswith("error: ConnectionError")


@pytest.mark.django_db
def test_readyz_names_an_unreachable_database(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise connection.Database.OperationalError("connection refused")

    # No local stand-in can make the test database vanish under a running test.
    monkeypatch.setattr(connection, "ensure_connection", refuse)

    response = client.get(reverse("readyz"))

    assert response.status_code == 503
    assert response.json()["database"] == "error: OperationalError: connection refused"


@pytest.mark.django_db
def test_readyz_names_a_database_connection_that_does_not_answer(client, monkeypatch):
    monkeypatch.setattr(connection, "is_usable", lambda: False)

    response = client.get(reverse("readyz"))

    assert response.status_code == 503
    assert response.json()["database"] == "error: the database does not answer"


def test_probes_are_exempt_from_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get(reverse("healthz")).status_code == 200
    assert client.get(reverse("home")).status_code == 301
