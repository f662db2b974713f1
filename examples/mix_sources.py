"""Mix three datasets at exact rates: wiki 2.5 epochs, code 1, books 0.3.

Every epoch holds round(rate x size) elements of each source exactly; a
source at 0.3 shows each of its samples once within ceil(1 / 0.3) = 4 epochs;
`stratified=64` makes every batch of 64 hold each source's share to within one
sample. Runs offline on generated data.
Requires: tensorflow.
Run: python examples/mix_sources.py
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

import oversample as ovs

SIZES = {"wiki": 3000, "code": 1000, "books": 2000}
RATES = {"wiki": 2.5, "code": 1.0, "books": 0.3}


def source(index: int, size: int) -> tf.data.Dataset:
    """A stand-in for a TFDS split: a source id and a position per element."""
    return tf.data.Dataset.from_tensor_slices(
        {"source": np.full(size, index), "position": np.arange(size)}
    )


sources = {name: source(i, n) for i, (name, n) in enumerate(SIZES.items())}
mixed = ovs.mix(sources, RATES, seed=0, epochs=4, stratified=64)
print(
    f"{int(mixed.cardinality())} elements over 4 epochs; targets {mixed.plan.targets}"
)

per_epoch = mixed.plan.total
seen_books = np.zeros(SIZES["books"], np.int64)
for epoch, batch in enumerate(mixed.batch(per_epoch).as_numpy_iterator()):
    counts = np.bincount(batch["source"], minlength=3)
    print(f"epoch {epoch}: wiki {counts[0]}, code {counts[1]}, books {counts[2]}")
    assert counts.tolist() == [7500, 1000, 600]
    books = batch["position"][batch["source"] == 2]
    seen_books += np.bincount(books, minlength=SIZES["books"])
    shares = np.bincount(batch["source"][:64], minlength=3)
    assert np.abs(shares - 64 * counts / per_epoch).max() < 1
assert seen_books.min() >= 1, "every book was used within 4 epochs"
print(
    "every book was used within 4 epochs, each at most", int(seen_books.max()), "times"
)
