"""Internals of the Python-stream executor (`oversample.iterables`): NumPy and
the standard library only."""
