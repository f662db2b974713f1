"""Plan class-balanced duplication for generated long-tailed labels.

Run: python examples/plan_long_tail.py
"""

from __future__ import annotations

import numpy as np

import oversample as ovs


def main() -> None:
    rng = np.random.default_rng(0)
    sizes = np.round(2000 * 100.0 ** (-np.arange(10) / 9)).astype(int)
    labels = rng.permutation(np.repeat(np.arange(10), sizes))

    plan = ovs.plan(labels, strategy="not majority", seed=0)
    print(plan.summary())

    for epoch in range(3):
        copies = plan.copies(epoch)
        per_class = np.bincount(labels, weights=copies).astype(int)
        assert per_class.tolist() == [plan.targets[c] for c in plan.classes]
        assert copies.min() >= 1
        order = plan.indices(epoch)
        print(
            f"epoch {epoch}: {order.size:,} indices, class totals exact,"
            f" first ten {order[:10].tolist()}"
        )

    gentle = ovs.plan(labels, strategy="sqrt", seed=0, max_factor=20)
    print(
        f"\nsquare-root sampling, factor capped at 20: {gentle.num_samples:,}"
        f" -> {gentle.total:,} samples per epoch"
    )


if __name__ == "__main__":
    main()
