"""The logging configuration of every process: the site's (settings.LOGGING) and
gunicorn's own (site_config/gunicorn.py), which its master reads before Django's
settings exist: nothing here needs them."""

from typing import Any

JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"


def logging_config(*, fmt: str, level: str, with_gunicorn: bool = False) -> dict[str, Any]:
    """One line per event on stderr: `fmt` "json" (one object per line, for production)
    or "plain" (for a developer), each carrying the request's id (common.request_id).
    With `with_gunicorn`, gunicorn's error and access lines go the same way."""
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "common.request_id.RequestIdFilter"}},
        "formatters": {
            "plain": {
                "format": "%(asctime)s %(levelname)s [%(name)s] [%(request_id)s] %(message)s"
            },
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": JSON_FIELDS,
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            },
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": fmt,
                "filters": ["request_id"],
            },
        },
        "root": {"handlers": ["stderr"], "level": level},
    }
    if with_gunicorn:
        config["loggers"] = {
            name: {"handlers": ["stderr"], "level": level, "propagate": False}
            for name in ("gunicorn.error", "gunicorn.access")
        }
    return config
