"""gunicorn's settings for the web process, wherever it runs (the image, the system
tests, the bench): `gunicorn -c python:site_config.gunicorn site_config.wsgi:application`.
Options given on the command line (--bind, --access-logfile) win over these."""

import multiprocessing
import os
import shutil
import tempfile
from typing import Any

from site_config.log_config import logging_config

# Sync workers: a request keeps its process while it waits on PostgreSQL and Redis, so
# more processes than cores keep both cores busy meanwhile: gunicorn's own advice, 2 per
# core plus 1. WEB_CONCURRENCY overrides it, which a container limited to fewer cores
# than its host has should set: cpu_count() sees the host's.
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
bind = "0.0.0.0:8000"
# Heartbeats between the master and its workers in memory rather than on disk: a
# container's overlay file system can stall them (gunicorn's Docker advice).
worker_tmp_dir = "/dev/shm"

# gunicorn believes X-Forwarded-Proto (and -Ssl, -Protocol) about HTTPS only from the
# addresses in forwarded_allow_ips. With no TLS-ending proxy in front (BEHIND_HTTPS_PROXY
# off) from none: any client could send them, and a request it says is HTTPS would skip
# the redirect to HTTPS. With one, from the proxy's address in FORWARDED_ALLOW_IPS, or
# loopback (gunicorn's own default) when unset.
_behind_https_proxy = os.environ.get("BEHIND_HTTPS_PROXY", "").lower() in {"1", "true", "yes", "on"}
forwarded_allow_ips = (
    os.environ.get("FORWARDED_ALLOW_IPS") or "127.0.0.1,::1" if _behind_https_proxy else ""
)

# Logs as the site's own are (site_config.log_config): JSON lines in production, plain with
# DEBUG on; the access line names the request's id, as the site's lines do.
_debug = os.environ.get("DEBUG", "").lower() in {"1", "true", "yes", "on"}
logconfig_dict = logging_config(
    fmt=os.environ.get("LOG_FORMAT") or ("plain" if _debug else "json"),
    level=os.environ.get("LOG_LEVEL", "INFO").upper(),
    with_gunicorn=True,
)
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'


def on_starting(server: object) -> None:
    """Request metrics (site_config.request_metrics): each worker process writes its
    figures to files in one folder, and /metrics sums them. Set here, in the master
    before it forks, so that the workers have it before they import prometheus_client;
    a fresh folder per start, so a restart does not add up old figures."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="web-metrics-")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def child_exit(server: object, worker: Any) -> None:
    # Imported here, never above: prometheus_client picks its way of keeping values when
    # first imported, which must come after the folder is set.
    from prometheus_client import multiprocess

    # A worker that is gone keeps its counters in the sum, and stops counting as live.
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
