"""A progressively-balanced schedule (Kang et al.): from the data's own class
shares at epoch 0 to class balance at epoch 4, in Keras and with a Sampler.

Requires: tensorflow. Run: python examples/progressive_schedule.py
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

import oversample as ovs


def main() -> None:
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.repeat(np.arange(4), [300, 100, 30, 10]))
    features = rng.normal(size=(labels.size, 8)).astype(np.float32) + labels[:, None]
    plan = ovs.plan(labels, ovs.Progressive(epochs=4), seed=0)
    for epoch in range(6):
        print(
            f"epoch {epoch}: {plan.total_at(epoch)} elements, {plan.targets_at(epoch)}"
        )

    # Keras: one fit call per epoch, each with that epoch's exact stream.
    source = tf.data.Dataset.from_tensor_slices((features, labels))
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    for epoch in range(6):
        stream = ovs.balance(source, label=1, plan=plan, epoch=epoch)
        assert int(stream.cardinality()) == plan.total_at(epoch)
        model.fit(stream.batch(32), initial_epoch=epoch, epochs=epoch + 1, verbose=0)

    # Or all epochs back to back, each exact: the cardinality is their sum.
    stream = ovs.balance(source, label=1, plan=plan, epochs=6)
    assert int(stream.cardinality()) == sum(plan.total_at(e) for e in range(6))

    # A Sampler follows the schedule through set_epoch.
    sampler = ovs.Sampler(plan)
    for epoch in range(6):
        sampler.set_epoch(epoch)
        counted = np.bincount(labels[sampler.indices()], minlength=4)
        assert counted.tolist() == list(plan.targets_at(epoch).values())
        print(f"sampler epoch {epoch}: {len(sampler)} indices, per class {counted}")


if __name__ == "__main__":
    main()
