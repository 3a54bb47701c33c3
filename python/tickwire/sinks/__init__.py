"""Sinks: where a feed's events go besides callbacks (Redis Streams: :mod:`.redis`)."""
