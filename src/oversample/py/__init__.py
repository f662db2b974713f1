"""The Python-stream executor: iterables, `ovs.Shards` read by Python and
tagged streams, balanced by the plan's rule (NumPy and the standard library)."""
