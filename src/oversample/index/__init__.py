"""The random-access executor: the Sampler and BatchSampler, the epoch order
they walk, and the compiled loops behind them. NumPy only (numba optional)."""
