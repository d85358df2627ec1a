import importlib
import multiprocessing

from site_config import gunicorn


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
