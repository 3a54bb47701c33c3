"""pytest configuration for the decode benchmarks (``pytest benches/ --benchmark-only``).

* the baselines and the comparison live in the package (``tickwire.bench``), so
  ``tickwire bench`` and these benchmarks measure the same code;
* ``TICKWIRE_BENCH_ROUNDS`` (default 5) sets the timed rounds per benchmark;
* prints the side-by-side comparison tables collected by
  ``test_compare_table`` at the end of the session (also without ``-s``).
"""

from __future__ import annotations

import importlib.util

import pytest

if importlib.util.find_spec("pytest_benchmark") is None:
    collect_ignore_glob = ["test_*.py"]  # the whole directory needs the benchmark fixture

# tables produced during the run: list of (title, markdown)
COMPARE_TABLES: list[tuple[str, str]] = []


@pytest.fixture(scope="session")
def compare_tables():
    return COMPARE_TABLES


def pytest_terminal_summary(terminalreporter):
    if not COMPARE_TABLES:
        return
    terminalreporter.section("tickwire decode comparison (same run, msg/s)")
    for title, table in COMPARE_TABLES:
        terminalreporter.write_line(title)
        for line in table.splitlines():
            terminalreporter.write_line(line)
        terminalreporter.write_line("")
