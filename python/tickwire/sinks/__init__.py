"""Sinks: store or publish a feed's normalized events elsewhere.

- :mod:`tickwire.sinks.postgres` — :class:`~tickwire.sinks.postgres.PostgresSink` (asyncpg; the
  ``postgres`` extra: ``pip install 'tickwire[postgres]'``), deduplicated across reconnects and
  restarts.
- :mod:`tickwire.sinks.redis` — :class:`~tickwire.sinks.redis.RedisSink`, the Redis Streams bus
  (the ``redis`` extra; readers: :mod:`tickwire.bus`).
- :mod:`tickwire.sinks.pgtemp` — a throwaway PostgreSQL cluster for tests and benchmarks.

Nothing is imported here, so ``import tickwire`` never needs a database driver.
"""
