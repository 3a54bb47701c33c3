"""``tickwire demo``'s live view at the scale of issue 11 (about 13 markets): every panel fits the
terminal's width, several a row, and shows its market, fault and health events. The states are
the demo's own (its simulators and feeds, built but not started: no socket is opened); the
demo run itself is tested end to end in test_simulator.py and test_cli.py."""

from __future__ import annotations

import math

import pytest
from rich.console import Console

from tickwire import demo
from tickwire.feed import Feed


@pytest.fixture(scope="module")
def states() -> list[demo._State]:
    out = demo._states()
    for st in out:
        st.feed = Feed(
            st.exchange,
            st.symbol,
            list(st.demo.channels),
            base_url=st.sim.rest_url,
            options=dict(st.demo.feed_options) or None,
        )
        st.history = [
            (0.4, "connected /ws"),
            (9.87, f"gap on {st.symbol}: expected 1234567890123, got 1234567890125"),
            (10.2, f"resynced {st.symbol} from a snapshot at 1234567890126"),
        ]
    return out


def _draw(states: list[demo._State], width: int) -> list[str]:
    console = Console(width=width, record=True, force_terminal=True, color_system=None)
    with console.capture() as cap:
        console.print(demo._render(states, 12.5, width))
    return cap.get().splitlines()


@pytest.mark.parametrize("width", [120, 200, 240])
def test_thirteen_markets_fit_the_width_in_dense_rows(states, width):
    many = (states * 3)[:13]  # the markets of this branch, repeated up to issue 11's count
    lines = _draw(many, width)
    columns = demo._columns(13, width)
    assert columns == min(4, width // demo.DENSE_PANEL_WIDTH) >= 2
    # a dense panel is 6 rows inside its border; one footer line
    assert len(lines) == math.ceil(13 / columns) * 8 + 1, "\n".join(lines)
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    for st in many:
        assert f"{st.demo.title}  {st.symbol}" in text
        assert st.demo.fault_text in text
    assert text.count("resynced") == 13 and text.count("gap on") == 13
    assert "13 markets on local simulators" in lines[-1]


def test_few_markets_keep_the_full_panels(states):
    lines = _draw(states[:4], 120)
    text = "\n".join(lines)
    assert "trade id" in text  # the recent-trades table of the full panels
    assert all(f"{st.demo.title}  {st.symbol}" in text for st in states[:4])
    assert max(len(line) for line in lines) <= 120
