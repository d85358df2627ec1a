import gc
import importlib
import multiprocessing
import weakref

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


def test_a_worker_freezes_what_it_loaded_before_serving():
    gc.unfreeze()
    assert gc.get_freeze_count() == 0

    try:
        gunicorn.post_worker_init(worker=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


class Node:
    pass


def test_a_worker_frees_what_start_up_left_unreachable_rather_than_freezing_it():
    cycle = Node()
    cycle.itself = cycle
    left_behind = weakref.ref(cycle)
    del cycle
    gc.disable()  # no collection of its own between here and the hook
    try:
        gunicorn.post_worker_init(worker=None)
        assert left_behind() is None
    finally:
        gc.unfreeze()
        gc.enable()
