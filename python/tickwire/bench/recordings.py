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
from dataclasses import dataclass, field
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
    used only where the full recording is nowhere (an installed wheel). ``snapshots``: for
    venues whose books start from a REST snapshot, ``(unified symbol, file name)`` of each
    recorded snapshot, found beside the recording and loaded into every decoder and bot before
    its frames (untimed): deltas the snapshot holds are then stale, the first past it bridges.
    """

    name: str
    exchange_id: str
    market: str | None
    folders: tuple[str, ...]
    stem: str
    what: str
    packaged: str | None = None
    snapshots: tuple[tuple[str, str], ...] = ()


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
        VenueSpec(
            "kucoin",
            "kucoin",
            None,
            ("kucoin",),
            "level2_ticker_match_candles_7sym_20210425",
            "spot 2021, 6 symbols: /market/level2 deltas (sequenceStart/End, per-row sequence) "
            "over 6 recorded REST snapshots, ticker, match, candles",
            packaged="spot_6sym_20210425",
            snapshots=tuple(
                (f"{m}/{q}", f"level2_snapshot_{m.lower()}-{q.lower()}_20210425.json")
                for m, q in (
                    ("ANKR", "BTC"),
                    ("BCHSV", "USDT"),
                    ("CAPP", "BTC"),
                    ("DAPPT", "BTC"),
                    ("EQZ", "BTC"),
                    ("NRG", "BTC"),
                )
            ),
        ),
        VenueSpec(
            "gateio",
            "gateio",
            "linear",
            ("gateio",),
            "futures_usdt_obupdate_bookticker_9contracts_20230524",
            "v4 USDT futures 2023, 9 contracts: order_book_update (U/u over REST snapshots), "
            "book_ticker, candlesticks",
            packaged="linear_9contracts",
            snapshots=(
                ("DIA/USDT:USDT", "futures_order_book_snapshot_dia_usdt_20230524.json"),
                ("FRONT/USDT:USDT", "futures_order_book_snapshot_front_usdt_20230524.json"),
                ("LIT/USDT:USDT", "futures_order_book_snapshot_lit_usdt_20230524.json"),
                ("OMG/USDT:USDT", "futures_order_book_snapshot_omg_usdt_20230524.json"),
                ("QUICK/USDT:USDT", "futures_order_book_snapshot_quick_usdt_20230524.json"),
                ("RDNT/USDT:USDT", "futures_order_book_snapshot_rdnt_usdt_20230524.json"),
                ("SFP/USDT:USDT", "futures_order_book_snapshot_sfp_usdt_20230524.json"),
                ("WOO/USDT:USDT", "futures_order_book_snapshot_woo_usdt_20230524.json"),
                ("ZRX/USDT:USDT", "futures_order_book_snapshot_zrx_usdt_20230524.json"),
            ),
        ),
        VenueSpec(
            "gateio-spot",
            "gateio",
            "spot",
            ("gateio",),
            "spot_obupdate_tickers_trades_candles_8pairs_20210422",
            "v4 spot 2021, 8 pairs: order_book_update (U/u over REST snapshots), tickers, "
            "trades, candlesticks",
            packaged="spot_8pairs",
            snapshots=(
                ("BTC/USDC", "spot_order_book_snapshot_btc_usdc_20210422.json"),
                ("DIS/USDT", "spot_order_book_snapshot_dis_usdt_20210422.json"),
                ("FAST/USDT", "spot_order_book_snapshot_fast_usdt_20210422.json"),
                ("HAI/ETH", "spot_order_book_snapshot_hai_eth_20210422.json"),
                ("INK/USDT", "spot_order_book_snapshot_ink_usdt_20210422.json"),
                ("NANO/USDT", "spot_order_book_snapshot_nano_usdt_20210422.json"),
                ("OMG/USDT", "spot_order_book_snapshot_omg_usdt_20210422.json"),
                ("QTUM3S/USDT", "spot_order_book_snapshot_qtum3s_usdt_20210422.json"),
            ),
        ),
        VenueSpec(
            "bitget",
            "bitget",
            "spot",
            ("bitget",),
            "spot_v1_books_ticker_trade_candle_checksum_7sym_20220407",
            "WS v1 spot 2022, 7 pairs: books (snapshot + updates, CRC32 top-25 checksum on "
            "each), ticker, trade, candle1m (1,000-candle snapshots)",
            packaged="spot_v1_books_ticker_trade_candle_7sym_20220407",
        ),
        VenueSpec(
            "mexc",
            "mexc",
            "spot",
            ("mexc",),
            "transcoded_pb_spot_solusdt_20250112",
            "spot v3 protobuf (binary `b64:` lines), SOLUSDT: the only real MEXC recording (7 "
            "frames of the retired JSON stream, 10-level limit.depth snapshots + increase.depth "
            "deltas) re-encoded as publicLimitDepths / publicAggreDepths pushes, values unchanged",
        ),
        VenueSpec(
            "hyperliquid",
            "hyperliquid",
            "linear",
            ("hyperliquid",),
            "l2book_trades_btc_20250126",
            "2025, BTC perp: l2Book (the whole 20-level book every push), trades",
        ),
        VenueSpec(
            "bitunix",
            "bitunix",
            "linear",
            ("bitunix",),
            "docs_derived_linear_btcusdt_ethusdt",
            "DOCS-DERIVED (no BitUnix recording exists), BTCUSDT + ETHUSDT: depth_book15 whole "
            "books, trade, tickers, market_kline_1min",
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
    #: (unified symbol, body) of each REST snapshot of ``spec.snapshots``, in order.
    snapshots: list[tuple[str, bytes]] = field(default_factory=list)

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
    snapshots = []
    for symbol, file_name in spec.snapshots:
        snap = path.parent / file_name
        if not snap.is_file():
            raise FileNotFoundError(f"{spec.name}: snapshot {snap} not found beside {path.name}")
        snapshots.append((symbol, snap.read_bytes()))
    return VenueRecording(spec, path, frames, binary=binary, snapshots=snapshots)
