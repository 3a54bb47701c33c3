"""Sinks: store a feed's normalized events elsewhere, deduplicated across reconnects and restarts.

- :mod:`tickwire.sinks.postgres` — :class:`~tickwire.sinks.postgres.PostgresSink` (asyncpg; the
  ``postgres`` extra: ``pip install 'tickwire[postgres]'``).
- :mod:`tickwire.sinks.pgtemp` — a throwaway PostgreSQL cluster for tests and benchmarks.

Nothing is imported here, so ``import tickwire`` never needs a database driver.
"""
