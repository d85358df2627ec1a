"""gunicorn's settings for the web process, wherever it runs (the image, the system
tests, the bench): `gunicorn -c python:site_config.gunicorn site_config.wsgi:application`.
Options given on the command line (--bind, --access-logfile) win over these."""

import multiprocessing
import os

# Sync workers: a request keeps its process while it waits on PostgreSQL and Redis, so
# more processes than cores keep both cores busy meanwhile: gunicorn's own advice, 2 per
# core plus 1. WEB_CONCURRENCY overrides it, which a container limited to fewer cores
# than its host has should set: cpu_count() sees the host's.
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
bind = "0.0.0.0:8000"
# Heartbeats between the master and its workers in memory rather than on disk: a
# container's overlay file system can stall them (gunicorn's Docker advice).
worker_tmp_dir = "/dev/shm"
