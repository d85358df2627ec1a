import pytest

# One line per scenario, printed together at the end of the run as the faults table.
FAULT_LINES: list[str] = []


@pytest.fixture
def fault_lines() -> list[str]:
    return FAULT_LINES


def pytest_terminal_summary(terminalreporter) -> None:
    if FAULT_LINES:
        terminalreporter.section("faults")
        for line in FAULT_LINES:
            terminalreporter.write_line(line)
