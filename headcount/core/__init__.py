"""The pure domain: events, the metric catalog, buckets, sketches, item keys, the merge rule.

Nothing here does I/O, reads the environment or the clock: callers pass what they know.
"""
