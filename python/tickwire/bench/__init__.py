"""Benchmarks that ship with tickwire (``tickwire bench``), measured side by side with their
baselines in the same run on the packaged real recordings.

- :mod:`tickwire.bench.decode`: decode + book apply through the Python API vs an orjson +
  dict-book bot and cryptofeed's Binance handler (no socket).
- :mod:`tickwire.bench.baselines`: those baselines.
"""
