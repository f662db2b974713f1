"""Internals of the Python-stream executor (`oversample.py.iterables`): NumPy and
the standard library only."""
