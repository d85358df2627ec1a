"""`make run`: the links in the emails the site sends point at the server it starts."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def serve_command(*arguments: str, **environ: str) -> str:
    """The line `make run` starts the server with; `make -n` prints it and runs nothing."""
    # Neither a SITE_URL of the caller's nor the flags of a `make` this runs under.
    inherited = {
        name: value
        for name, value in os.environ.items()
        if name not in ("SITE_URL", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    }
    printed = subprocess.run(
        ["make", "-n", "run", *arguments],
        cwd=ROOT,
        env={**inherited, **environ},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    [line] = [line for line in printed.splitlines() if "manage.py runserver" in line]
    return line


def test_the_links_follow_the_port_make_run_serves():
    # The environment wins over .env's SITE_URL (tests/site_config/test_settings.py).
    assert serve_command("PORT=8700") == (
        "SITE_URL='http://127.0.0.1:8700' .venv/bin/python manage.py runserver 127.0.0.1:8700"
    )


def test_a_site_url_the_caller_gives_wins():
    assert serve_command("PORT=8700", SITE_URL="https://tunnel.example").startswith(
        "SITE_URL='https://tunnel.example' "
    )
    assert serve_command("PORT=8700", "SITE_URL=https://tunnel.example").startswith(
        "SITE_URL='https://tunnel.example' "
    )
