"""The recordings the venue benchmarks replay: one per venue, its largest real capture.

Each venue's bench recording is found, in this order, in

1. ``data_dir`` (argument) or ``$TICKWIRE_DATA``: ``<dir>/<folder>/<stem>.jsonl[.gz]``;
2. the package data, ``tickwire/data/<folder>/`` (what the simulator ships; the venue's own
   SOURCES.md there carries the attribution);
3. a source checkout's ``tests/fixtures/<folder>/`` (copies the tests use, with SOURCES.md);
4. the team's shared fixture set, ``../shared/fixtures/<folder>/`` beside the checkout (see its
   PROVENANCE.md), for development before a venue's copy exists.

``<folder>`` is tried in the order listed per venue (Coinbase's two feeds share a folder). Where
the simulator's packaged copy has another name (Bybit, OKX, Kraken: the same frames without the
subscribe acks), it is the last resort, after the full recording in every directory.
Every recording is a real capture, one WebSocket frame per line, in arrival order (a binary
frame as ``b64:`` + base64, see :func:`tickwire.replay.frame_of_line`); the
attribution of each lives next to the file where it is found (SOURCES.md / PROVENANCE.md).
A recording found in none of them makes :func:`load_venue_recording` raise
``FileNotFoundError`` naming every place it looked.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

from ..replay import BINARY_LINE_PREFIX, frame_of_line

__all__ = [
    "VENUES",
    "VenueRecording",
    "VenueSpec",
    "load_venue_recording",
    "recording_dirs",
]

_PACKAGE_DATA = Path(__file__).resolve().parent.parent / "data"
_CHECKOUT = Path(__file__).resolve().parents[3]  # <checkout>/python/tickwire/bench/this file


@dataclass(frozen=True)
class VenueSpec:
    """Where a venue's bench recording lives and how tickwire decodes it.

    ``exchange_id``/``market``: the ``tw.Decoder`` arguments (``market`` None = the venue's
    default); ``folders``: data folder names to look in, in order; ``stem``: the recording's
    file name without ``.jsonl``; ``what``: one line on the recording's content;
    ``packaged``: the stem of the copy the simulator ships in ``tickwire/data/<folder>/`` when
    it differs (the same frames without the subscribe acks, which the simulator makes itself),
    used only where the full recording is nowhere (an installed wheel).
    """

    name: str
    exchange_id: str
    market: str | None
    folders: tuple[str, ...]
    stem: str
    what: str
    packaged: str | None = None


VENUES: dict[str, VenueSpec] = {
    v.name: v
    for v in (
        VenueSpec(
            "bybit",
            "bybit",
            "linear",
            ("bybit",),
            "v5_linear_orderbook200_tickers_trades_kline_4sym",
            "v5 linear, 4 perps: orderbook.200 snapshot + deltas (u chain), tickers, "
            "publicTrade, kline.1",
            packaged="linear_4sym",
        ),
        VenueSpec(
            "okx",
            "okx",
            None,
            ("okx",),
            "books_trades_tickers_checksum_btcusdt_uniusdswap_20220513",
            "v5 public 2022, BTC-USDT + UNI-USD-SWAP: books (400-level snapshot + updates, "
            "CRC32 top-25 checksum on each), trades, tickers",
            packaged="books_trades_tickers_btcusdt_uniusdswap_20220513",
        ),
        VenueSpec(
            "kraken",
            "kraken",
            None,
            ("kraken",),
            "book1000_checksum_8pairs_20210417",
            "WS v1 2021, 8 pairs: book-1000 snapshot + updates (CRC32 top-10 checksum on each), "
            "heartbeats",
            packaged="book1000_8pairs_20210417",
        ),
        VenueSpec(
            "coinbase",
            "coinbase",
            None,
            ("coinbase",),
            "advanced_trade_l2data_ticker_trades_candles_heartbeats_btcusd_ethusd",
            "Advanced Trade, BTC-USD + ETH-USD: level2 (full-book snapshots of 5.1 and 2.5 MB, "
            "then updates), ticker, market_trades, candles, heartbeats; sequence_num per "
            "connection",
        ),
        VenueSpec(
            "coinbaseexchange",
            "coinbaseexchange",
            None,
            ("coinbaseexchange", "coinbase"),
            "exchange_level2_ticker_matches_8products_20210417",
            "Exchange feed 2021, 8 products: level2 snapshot + l2update, ticker, match",
        ),
    )
}


@dataclass(frozen=True)
class VenueRecording:
    """One venue's bench recording in memory: ``frames`` are the raw frames (bytes, no newline;
    a ``b64:`` line decoded to its binary frame), ``binary`` the indices of the binary ones
    (fed with ``binary=True``), ``path`` the file they came from, ``nbytes`` their total size
    in bytes."""

    spec: VenueSpec
    path: Path
    frames: list[bytes]
    binary: frozenset[int] = frozenset()

    @property
    def name(self) -> str:
        """The venue's bench name (``"okx"``)."""
        return self.spec.name

    @property
    def nbytes(self) -> int:
        """Total bytes of all frames."""
        return sum(len(f) for f in self.frames)


def recording_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """The base directories searched, in order (see the module docstring)."""
    dirs = []
    env = data_dir or os.environ.get("TICKWIRE_DATA")
    if env:
        dirs.append(Path(env))
    dirs += [
        _PACKAGE_DATA,
        _CHECKOUT / "tests" / "fixtures",
        _CHECKOUT.parent / "shared" / "fixtures",
    ]
    return dirs


def _find(spec: VenueSpec, data_dir: str | Path | None) -> tuple[Path | None, list[Path]]:
    tried = []
    stems = (spec.stem,) if spec.packaged is None else (spec.stem, spec.packaged)
    for stem in stems:  # the full recording anywhere before the packaged copy
        for base in recording_dirs(data_dir):
            for folder in spec.folders:
                for suffix in (".jsonl", ".jsonl.gz"):
                    p = base / folder / f"{stem}{suffix}"
                    tried.append(p)
                    if p.is_file():
                        return p, tried
    return None, tried


def load_venue_recording(name: str, data_dir: str | Path | None = None) -> VenueRecording:
    """Load venue ``name``'s bench recording (one of :data:`VENUES`).

    Raises ``ValueError`` for an unknown name and ``FileNotFoundError`` (listing every path
    tried) when the recording is in none of the searched directories.
    """
    try:
        spec = VENUES[name]
    except KeyError:
        raise ValueError(f"unknown venue {name!r}; expected one of {sorted(VENUES)}") from None
    path, tried = _find(spec, data_dir)
    if path is None:
        raise FileNotFoundError(
            f"{name}: recording {spec.stem}.jsonl not found; looked in "
            + ", ".join(str(p) for p in tried)
        )
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    frames = [line for line in raw.splitlines() if line.strip()]
    binary = frozenset(i for i, f in enumerate(frames) if f.startswith(BINARY_LINE_PREFIX))
    i = -1
    try:
        for i in sorted(binary):
            frames[i] = frame_of_line(frames[i])[0]
    except ValueError as exc:
        raise ValueError(f"{path}:{i + 1}: {exc}") from None
    return VenueRecording(spec, path, frames, binary)
