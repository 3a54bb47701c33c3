"""Account credentials, the server clock, and (one module per exchange) request signers.

- :class:`Credentials`: an API key and its secrets, from arguments or the environment
  (``TICKWIRE_<EXCHANGE>_API_KEY``, ``_API_SECRET``, ``_PASSPHRASE``, ``_PRIVATE_KEY_PATH``;
  a ``.env`` file only when asked). No secret ever shows in a ``repr``, ``str``, log line,
  exception message, event or CLI output: :meth:`Credentials.secrets` lists the strings every
  log path scrubs.
- :class:`ServerClock`: the offset between the exchange's clock and ours, measured per
  connection, so signed timestamps land inside the venue's window (``recvWindow``,
  ``expires``, OKX's 30 s).
- ``auth/<exchange>.py``: pure signer functions of that exchange (``hmac``/``hashlib``,
  ``cryptography`` for Ed25519), each tested against the exchange's published vectors
  (``docs/exchanges/<exchange>.md``). The adapter of that exchange calls them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Credentials", "ServerClock", "env_prefix"]


def env_prefix(exchange: str) -> str:
    """The environment variable prefix of ``exchange``'s keys: ``TICKWIRE_BINANCEUSDM_``."""
    return "TICKWIRE_" + "".join(c if c.isalnum() else "_" for c in exchange.upper()) + "_"


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """An exchange API key and what signs with it.

    ``api_key``: the key id the exchange shows (sent in headers and login messages; still
    treated as a secret in logs). ``secret``: the HMAC secret (Binance, Bybit, OKX, BitUnix,
    ...). ``passphrase``: OKX / Bitget / KuCoin's API passphrase. ``private_key``: a PEM
    private key (Binance Ed25519 API keys; its text, not a path). ``account``: a public account
    identifier where reads need no key at all (Hyperliquid's user address ``0x...``).

    Raises ``ValueError`` naming the field (never its value) when a field that is given is
    empty or not a string. ``repr`` and ``str`` show the key's first 4 characters and mask the
    rest; secrets are never shown."""

    api_key: str = ""
    secret: str = field(default="")
    passphrase: str | None = None
    private_key: str | None = None
    account: str | None = None

    def __post_init__(self) -> None:
        for name in ("api_key", "secret"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"Credentials.{name} must be a str")
        for name in ("passphrase", "private_key", "account"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v):
                raise ValueError(f"Credentials.{name} must be a non-empty str or None")
        if not (self.api_key or self.account):
            raise ValueError("Credentials need an api_key (or, for key-less reads, an account)")

    @classmethod
    def from_env(
        cls, exchange: str, *, dotenv: str | os.PathLike[str] | None = None
    ) -> Credentials:
        """The keys of ``exchange`` from the environment: ``TICKWIRE_<EXCHANGE>_API_KEY``,
        ``_API_SECRET``, ``_PASSPHRASE``, ``_PRIVATE_KEY_PATH`` (a PEM file, read here),
        ``_ACCOUNT`` (``<EXCHANGE>`` is the exchange id upper-cased: ``BINANCEUSDM``).
        ``dotenv``: a ``.env`` file read first (its values do not override variables already
        set); None reads no file. Raises ``ValueError`` naming the missing variable (never a
        value), ``OSError`` if the key file cannot be read."""
        env = dict(os.environ)
        if dotenv is not None:
            from dotenv import dotenv_values  # only when asked: a .env file is opt-in

            path = Path(dotenv)
            if not path.is_file():
                raise ValueError(f"no .env file at {str(path)!r}")
            for k, v in dotenv_values(path).items():
                if v is not None:
                    env.setdefault(k, v)
        p = env_prefix(exchange)
        key_path = env.get(p + "PRIVATE_KEY_PATH")
        private_key = Path(key_path).read_text() if key_path else None
        api_key = env.get(p + "API_KEY", "")
        account = env.get(p + "ACCOUNT") or None
        if not api_key and not account:
            raise ValueError(f"{p}API_KEY (or {p}ACCOUNT) is not set")
        return cls(
            api_key=api_key,
            secret=env.get(p + "API_SECRET", ""),
            passphrase=env.get(p + "PASSPHRASE") or None,
            private_key=private_key,
            account=account,
        )

    @property
    def identity(self) -> str:
        """A short public id of these credentials for logs and pool keys: the key's first 4
        characters (or the account) and a hash of the rest, never enough to use them."""
        import hashlib

        shown = self.api_key[:4] if self.api_key else (self.account or "")[:6]
        digest = hashlib.sha256((self.api_key + "\0" + (self.account or "")).encode()).hexdigest()
        return f"{shown}…{digest[:8]}"

    def secrets(self) -> list[str]:
        """Every secret string of these credentials (key, secret, passphrase, private key and
        its lines), for log scrubbing: never print this list."""
        out = [s for s in (self.api_key, self.secret, self.passphrase) if s]
        if self.private_key:
            out.append(self.private_key)
            out.extend(line for line in self.private_key.splitlines() if len(line) >= 8)
        return out

    def __repr__(self) -> str:
        given = [n for n in ("secret", "passphrase", "private_key") if getattr(self, n)]
        acct = f", account={self.account!r}" if self.account else ""
        return f"Credentials({self.identity}{acct}, with {', '.join(given) or 'no secret'})"

    __str__ = __repr__


class ServerClock:
    """The exchange's clock as seen from here: ``offset_ns`` (server minus local, measured
    from a server-time reply at the midpoint of its round trip) and :meth:`now_ms`, the
    corrected time to sign with. One per (exchange, REST base); an unmeasured clock has offset
    0. Thread-unsafe by design: the event loop owns it."""

    __slots__ = ("measured_at", "offset_ns", "round_trip_ns")

    def __init__(self) -> None:
        self.offset_ns = 0
        self.round_trip_ns: int | None = None
        self.measured_at: float | None = None

    def update(self, server_ms: int, sent_ns: int, received_ns: int) -> None:
        """Record a server-time reply ``server_ms`` (ms since the Unix epoch) to a request sent
        at ``sent_ns`` and answered at ``received_ns`` (local ``time.time_ns()``). Raises
        ``ValueError`` if ``received_ns < sent_ns``."""
        if received_ns < sent_ns:
            raise ValueError(f"received_ns {received_ns} is before sent_ns {sent_ns}")
        mid = (sent_ns + received_ns) // 2
        self.offset_ns = server_ms * 1_000_000 - mid
        self.round_trip_ns = received_ns - sent_ns
        self.measured_at = time.monotonic()

    def now_ns(self) -> int:
        """The exchange's time now, ns since the Unix epoch (local clock + offset)."""
        return time.time_ns() + self.offset_ns

    def now_ms(self) -> int:
        """The exchange's time now, ms since the Unix epoch."""
        return self.now_ns() // 1_000_000
