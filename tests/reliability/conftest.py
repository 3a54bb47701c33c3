"""Prints the fault matrix after the reliability tests ran (see ``test_fault_matrix.py``)."""

from __future__ import annotations

import math


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    """One row per fault, one column per market: the time to recover in seconds (``-``: the
    fault left no sign), ``+N lost`` trades the venue gives no way to see, ``n/a``, or
    ``FAIL``."""
    from reliability.harness import RESULTS

    if not RESULTS:
        return
    markets = list(dict.fromkeys(o.market for o in RESULTS))
    faults = list(dict.fromkeys(o.fault for o in RESULTS))
    cell = {(o.fault, o.market): o for o in RESULTS}
    width = max(len(f) for f in faults)
    tr = terminalreporter
    tr.section("fault matrix: time to recover (s) / trades lost unreported")
    tr.write_line(" " * width + "  " + " ".join(f"{m[:13]:>13}" for m in markets))
    for f in faults:
        row = []
        for m in markets:
            o = cell.get((f, m))
            if o is None:
                text = ""
            elif not o.ok:
                text = "FAIL"
            elif o.status == "n/a":
                text = "n/a"
            else:
                t = o.recover_s
                text = "-" if t is None else ("open" if math.isinf(t) else f"{t:.2f}")
                if o.lost:
                    text += f" +{o.lost}lost"
            row.append(f"{text:>13}")
        tr.write_line(f"{f:<{width}}  " + " ".join(row))
    failed = [o for o in RESULTS if not o.ok]
    for o in failed:
        tr.write_line(f"FAIL {o.fault} x {o.market}: {o.status}")
