"""The results: one row per figure, printed as a table and written as JSON with the
machine they were measured on."""

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.load import wrk_version

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ("measure", "value", "baseline", "ratio", "goal", "result")


# Percent a departure from the framework must gain on the item it serves, measured by
# turning it off in the same run, to stay (docs/performance.md).
DEPARTURE_GAIN_GOAL = 10


@dataclass(frozen=True)
class Result:
    """One figure. `baseline` and `ratio` are there when the figure is judged against
    another measured in the same run; `passed` is None for figures with no goal, which
    are reported to guide the work rather than to judge it."""

    item: str
    measure: str
    unit: str
    value: float
    baseline: float | None = None
    ratio: float | None = None
    goal: str = ""
    passed: bool | None = None

    def cells(self) -> tuple[str, ...]:
        return (
            self.measure,
            _number(self.value, self.unit),
            "" if self.baseline is None else _number(self.baseline, self.unit),
            "" if self.ratio is None else f"{self.ratio:.2f}",
            self.goal,
            {True: "pass", False: "FAIL", None: "-"}[self.passed],
        )


def _number(value: float, unit: str) -> str:
    """Three significant figures or so; whole numbers (counts) as they are."""
    whole = value == int(value) or abs(value) >= 100
    digits = 0 if whole else 1 if abs(value) >= 10 else 2
    return f"{value:.{digits}f} {unit}".strip()


def table(results: list[Result]) -> str:
    rows = [COLUMNS, *(result.cells() for result in results)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def machine(database_url: str) -> dict:
    """What the figures depend on, and what else was going on (the load average)."""
    with psycopg.connect(database_url) as connection:
        postgres = connection.execute("SHOW server_version").fetchone()[0]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        # The tree is measured as it is, uncommitted changes included.
        "git_uncommitted_changes": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "load_average_at_start": os.getloadavg(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": postgres,
        "redis": _command_output("redis-server", "--version"),
        "wrk": wrk_version(),
    }


def write_json(path: Path, results: list[Result], machine_info: dict, details: dict) -> None:
    document = {
        "machine": machine_info,
        "results": [asdict(result) for result in results],
        "details": details,
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor()


def _git(*arguments: str) -> str:
    return _command_output("git", "-C", str(ROOT), *arguments)


def _command_output(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True).stdout.strip()
