"""The production topology as real processes on loopback, for the system and fault
tests: gunicorn (configured by site_config/gunicorn.py), one `manage.py rundramatiq`
process, a fresh PostgreSQL database on the server DATABASE_URL names, a Redis server of
its own (so it can be stopped), an aiosmtpd sink and the directory stand-in."""

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from redis import Redis

from tests.conftest import GOOD_PASSWORD, wait_until
from tests.outbox.provider_reports import BACKENDS, MAILGUN_SIGNING_KEY, WEBHOOK_SECRET
from tests.standins.directory import DirectoryStandIn
from tests.standins.smtp import SmtpSink, free_port
from tests.system.visitor import PRODUCTION_ON_LOOPBACK

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKER_THREADS = 4
# The worker's CPU share against the web's, as compose.yaml sets it (cpu_shares 16
# against 1024): niceness 19 weighs 15 against 1024 in Linux's scheduler. The bench
# measures the web beside a worker so weighted; the tests run it at the web's weight,
# since at 15 against every other process of a busy machine it can take minutes to start.
WORKER_NICENESS = 19
STAFF = ("staff@example.org", GOOD_PASSWORD)
METRICS_TOKEN = "topology-metrics-token"
# How long a process may take to start taking work before the topology gives up on it:
# the bound only tells a start that hangs from a slow one.
START_TIMEOUT = 300
# Where Dramatiq's Redis broker keeps each consuming process's last heartbeat
# (dramatiq/brokers/redis/dispatch.lua): a process is there once it takes tasks.
HEARTBEATS = "dramatiq:__heartbeats__"


def provider_environment(provider: str) -> dict[str, str]:
    """What an operator sets to send through `provider` (postmark or mailgun) and take
    its reports: its backend, whose tracking URL is then the one the site mounts, and the
    webhooks' secrets. Mailgun's signing key is set either way, as a key left over from
    another provider would be."""
    return {
        "EMAIL_BACKEND": BACKENDS[provider],
        "ANYMAIL_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_SIGNING_KEY,
    }


def wait_until_started(process: subprocess.Popen, started: Callable[[], object], what: str) -> None:
    """Wait until `started()` holds; fail at once if `process` exits first, and after
    START_TIMEOUT if it never does."""
    wait_until(lambda: process.poll() is not None or started(), timeout=START_TIMEOUT)
    assert process.poll() is None, f"{what} exited with {process.returncode} as it started"
    assert started(), f"{what} did not start within {START_TIMEOUT} s"


def skip_or_fail(reason: str) -> None:
    """Skip on a developer's machine; under CI a missing part is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class RedisServer:
    """A Redis of the topology's own, persisted as in compose.yaml, that can be stopped
    and started again on the same port."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--maxmemory-policy",
                "noeviction",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
        )
        answers = wait_until(lambda: self._ping(), timeout=10)
        assert answers, "redis-server did not start"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def _ping(self) -> bool:
        result = subprocess.run(
            ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
        )
        return result.stdout.strip() == "PONG"


PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
# PgBouncer refuses to run as root; as root it is told to switch to this user.
PGBOUNCER_USER = "postgres"


class PgBouncer:
    """PgBouncer in transaction mode in front of one database: each transaction may get
    another server connection, so nothing may outlive one (session locks, prepared
    statements, server-side cursors)."""

    def __init__(self, folder: Path, database_url: str) -> None:
        self.port = free_port()
        self.folder = folder
        self.target = urlsplit(database_url)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return urlunsplit(
            self.target._replace(
                netloc=f"{self.target.netloc.rsplit('@', 1)[0]}@127.0.0.1:{self.port}"
            )
        )

    def start(self) -> None:
        self.folder.mkdir(mode=0o777)
        self.folder.chmod(0o777)
        database = self.target.path.lstrip("/")
        server = (
            f"host={self.target.hostname} port={self.target.port or 5432} dbname={database} "
            f"user={self.target.username} password={self.target.password}"
        )
        config = self.folder / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"{database} = {server}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            # The server connection carries the credentials; clients are on loopback.
            "auth_type = any\n"
            "pool_mode = transaction\n"
            "max_client_conn = 200\n"
            "default_pool_size = 10\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {self.folder / 'pgbouncer.log'}\n"
        )
        config.chmod(0o644)
        as_root = ["-u", PGBOUNCER_USER] if os.geteuid() == 0 else []
        self.process = subprocess.Popen(
            [PGBOUNCER, *as_root, str(config)], stdout=subprocess.DEVNULL
        )
        assert wait_until(self._answers, timeout=10), "pgbouncer did not start"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def _answers(self) -> bool:
        try:
            psycopg.connect(self.url, connect_timeout=1).close()
        except psycopg.Error:
            return False
        return True


@dataclass
class Topology:
    base_url: str
    database_url: str
    env: dict[str, str]
    sink: SmtpSink
    directory: DirectoryStandIn
    redis: RedisServer
    processes: list[subprocess.Popen] = field(default_factory=list)
    web: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    # The worker's niceness, and its session's (WORKER_NICENESS for compose.yaml's share).
    worker_niceness: int = 0
    pgbouncer: PgBouncer | None = None

    def pgbouncer_log(self) -> str:
        assert self.pgbouncer is not None, "this topology has no PgBouncer"
        return (self.pgbouncer.folder / "pgbouncer.log").read_text()

    def start_web(self, **environment: str) -> None:
        """Start gunicorn, and return once it is ready (/readyz); `environment` overrides
        the topology's variables for it."""
        port = urlsplit(self.base_url).port
        self.web = self.spawn(
            [
                str(BIN / "gunicorn"),
                "--config",
                "python:site_config.gunicorn",
                "site_config.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
            ],
            env={**self.env, **environment},
        )
        wait_until_started(self.web, lambda: ready(self.base_url), "gunicorn")

    def stop_web(self) -> None:
        """Stop gunicorn as its process manager would (SIGTERM: requests finish)."""
        assert self.web is not None, "the web is not running"
        self.web.terminate()
        self.web.wait(timeout=30)
        self.processes.remove(self.web)
        self.web = None

    @contextmanager
    def web_environment(self, **environment: str) -> Iterator[None]:
        """The web restarted with `environment` over the topology's variables, and
        restarted as it was afterwards."""
        self.stop_web()
        self.start_web(**environment)
        try:
            yield
        finally:
            self.stop_web()
            self.start_web()

    def start_worker(
        self, processes: int = 1, threads: int = WORKER_THREADS, **environment: str
    ) -> None:
        """Start `rundramatiq`, and return once each of its processes takes tasks from the
        broker; `environment` overrides the topology's variables for it."""
        consuming_before = self.consuming()
        # Its own session, so the supervisor and the processes it forks die together.
        self.worker = self.spawn(
            [
                "nice",
                "-n",
                str(self.worker_niceness),
                sys.executable,
                "manage.py",
                "rundramatiq",
                "--processes",
                str(processes),
                "--threads",
                str(threads),
            ],
            start_new_session=True,
            env={**self.env, **environment},
        )
        # A new session is a scheduling group of its own where the kernel groups by
        # session (autogroup): its weight is what counts against the web's, not the
        # processes' niceness.
        autogroup = Path(f"/proc/{self.worker.pid}/autogroup")
        if autogroup.exists():
            autogroup.write_text(str(self.worker_niceness))
        # Until then nothing the web writes is sent: the relay runs beside the worker's
        # consumers. Its metrics server, which compose.yaml's health check asks, is forked
        # apart from them.
        wait_until_started(
            self.worker,
            lambda: (
                len(self.consuming() - consuming_before) >= processes
                and self.worker_metrics_answer()
            ),
            f"the worker ({processes} process(es) taking tasks, and its metrics server)",
        )

    def consuming(self) -> set[bytes]:
        """The broker ids of the worker processes that have taken tasks from Redis, live
        or killed since."""
        with Redis.from_url(self.redis.url) as client:
            return set(client.zrange(HEARTBEATS, 0, -1))

    def kill_worker(self) -> None:
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=10)

    def worker_memory_kib(self) -> int:
        """Resident memory of the worker's whole process group."""
        total = 0
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                if os.getpgid(int(status.parent.name)) != self.worker.pid:
                    continue
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except (OSError, ValueError):
                continue
        return total

    def metrics(self) -> str:
        """The application's metrics, as a Prometheus scraper reads them."""
        headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        response = httpx.get(f"{self.base_url}/metrics", headers=headers, timeout=5)
        response.raise_for_status()
        return response.text

    def worker_metrics(self) -> str:
        """Dramatiq's metrics, from the exposition server the worker forks."""
        url = f"http://127.0.0.1:{self.env['dramatiq_prom_port']}/metrics"
        response = httpx.get(url, timeout=5)
        response.raise_for_status()
        return response.text

    def worker_metrics_answer(self) -> bool:
        """Whether the worker's metrics server answers, as compose.yaml's health check asks."""
        try:
            self.worker_metrics()
        except httpx.HTTPError:
            return False
        return True

    def spawn(self, command: list[str], **options) -> subprocess.Popen:
        options.setdefault("env", self.env)
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, **options)
        self.processes.append(process)
        return process

    def query(self, sql: str, *params) -> list[tuple]:
        with psycopg.connect(self.database_url) as connection:
            return connection.execute(sql, params).fetchall()

    def statuses(self) -> Counter:
        """How many of the messages' emails are in each status (their delivery is their
        email's, in the outbox)."""
        return Counter(
            dict(
                self.query(
                    "SELECT e.status, count(*) FROM contact_message m"
                    " JOIN outbox_email e ON e.id = m.email_id GROUP BY 1"
                )
            )
        )

    def wait_for_statuses(self, expected: Counter, *, still: float) -> None:
        """Wait until the messages' statuses are `expected`, however slowly they move;
        fail once they have stood still for `still` seconds, saying where they stood."""
        seen, since = self.statuses(), time.monotonic()
        while seen != expected:
            assert time.monotonic() - since < still, (
                f"the messages stood at {dict(seen)} for {still:.0f} s; expected {dict(expected)}"
            )
            time.sleep(0.25)
            latest = self.statuses()
            if latest != seen:
                seen, since = latest, time.monotonic()

    def link(self, *, to: str, path: str, timeout: float = 30) -> str:
        """The link under `path` in the next email to `to`, as a visitor reads it
        (tests.system.visitor.Mailbox); when none comes, what the database says of it."""
        try:
            return self.sink.link(to=to, path=path, timeout=timeout)
        except AssertionError as missing:
            rows = self.query(
                "SELECT e.kind, e.status, e.attempts, e.relayed_at, e.last_error"
                " FROM outbox_email e JOIN users_user u ON u.id = e.user_id"
                " WHERE u.email = lower(%s) ORDER BY e.id",
                to,
            )
            worker = "running" if self.worker.poll() is None else f"exited {self.worker.returncode}"
            raise AssertionError(
                f"{missing}; its account emails (kind, status, attempts, relayed at, error):"
                f" {rows}; the worker: {worker}"
            ) from missing

    @contextmanager
    def database_down(self) -> Iterator[None]:
        """What a restart does to our database: every connection dropped, and new ones
        refused until it is back."""
        name = urlsplit(self.database_url).path.lstrip("/")
        with psycopg.connect(self.env["SERVER_DATABASE_URL"], autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            try:
                yield
            finally:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def topology_environment(
    *, through_pgbouncer: bool = False, worker_niceness: int = 0, **overrides: str
) -> Iterator[Topology]:
    """Start the whole topology; yields it and stops it all afterwards. With
    `through_pgbouncer`, the web and the worker reach the database through PgBouncer in
    transaction mode (migrations go straight to it, as an operator's would); the worker
    runs at `worker_niceness` (WORKER_NICENESS weighs it as compose.yaml does)."""
    server_url = os.environ.get("DATABASE_URL", "")
    if not server_url.startswith(("postgres://", "postgresql://")):
        pytest.skip("runs when DATABASE_URL points at PostgreSQL (CI's second run)")
    if not (shutil.which("redis-server") and shutil.which("redis-cli")):
        skip_or_fail("needs redis-server: sudo apt-get install redis-server")
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"topology-{uuid.uuid4().hex[:12]}"
    folder.mkdir()
    database = f"system_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    database_url = urlunsplit(urlsplit(server_url)._replace(path=f"/{database}"))
    pgbouncer = None
    if through_pgbouncer:
        if not os.path.exists(PGBOUNCER):
            skip_or_fail("needs pgbouncer: sudo apt-get install pgbouncer")
        pgbouncer = PgBouncer(folder / "pgbouncer", database_url)
        pgbouncer.start()
    redis = RedisServer(folder / "redis")
    redis.start()
    sink = SmtpSink().start()
    directory = DirectoryStandIn().start()
    port = free_port()
    env = {
        **os.environ,
        **PRODUCTION_ON_LOOPBACK,
        "SERVER_DATABASE_URL": server_url,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url,
        "EMAIL_BACKEND": "outbox.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(sink.port),
        "EMAIL_TIMEOUT": "2",
        "ADMIN_EMAIL": "admin@example.org",
        "DEFAULT_FROM_EMAIL": "site@example.org",
        "USER_DIRECTORY_URL": directory.url,
        "USER_DIRECTORY_TOTAL_TIMEOUT": "5",
        "DRAMATIQ_HEARTBEAT_TIMEOUT_MS": "5000",
        "MESSAGE_SWEEP_INTERVAL": "5",
        # A few people send hundreds of messages here; the limits have tests of their own.
        "MESSAGES_PER_HOUR": "100000",
        "SIGNUPS_PER_HOUR": "1000",
        "STATIC_ROOT": str(folder / "static"),
        "LOG_LEVEL": "WARNING",
        "DJANGO_SUPERUSER_EMAIL": STAFF[0],
        "DJANGO_SUPERUSER_PASSWORD": STAFF[1],
        "METRICS_TOKEN": METRICS_TOKEN,
        # Dramatiq's worker metrics, on a port and in a folder of this topology's own.
        "dramatiq_prom_port": str(free_port()),
        "dramatiq_prom_db": str(folder / "worker-metrics"),
        **overrides,
    }
    for command in (["migrate"], ["collectstatic"], ["createsuperuser"]):
        subprocess.run(
            [sys.executable, "manage.py", *command, "--no-input", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
    if pgbouncer is not None:
        env = {**env, "DATABASE_URL": pgbouncer.url, "DATABASE_TRANSACTION_POOLER": "true"}
    topology = Topology(
        f"http://127.0.0.1:{port}",
        database_url,
        env,
        sink,
        directory,
        redis,
        pgbouncer=pgbouncer,
        worker_niceness=worker_niceness,
    )
    try:
        topology.start_web()
        topology.start_worker()
        yield topology
    finally:
        for process in topology.processes:
            if process.poll() is None:
                if process is topology.worker:
                    os.killpg(process.pid, signal.SIGTERM)
                else:
                    process.terminate()
                process.wait(timeout=30)
        directory.stop()
        sink.stop()
        redis.stop()
        if pgbouncer is not None:
            pgbouncer.stop()
        shutil.rmtree(folder, ignore_errors=True)
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
