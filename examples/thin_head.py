"""Thin the head of a long tail: every class moved to the median size.

Classes above the median give each sample 0 or 1 copies per epoch, rotating
so that every sample is used within ceil(count / target) epochs; classes
below are raised as usual. Without `thin=True` a target below a count is an
error. Runs on generated labels; the same plan drives a Sampler, a Python
stream or `ovs.balance(ds, strategy="median", thin=True)`.
Run: python examples/thin_head.py
"""

from __future__ import annotations

import math

import numpy as np

import oversample as ovs

sizes = [2000, 800, 300, 120, 50, 20]
labels = np.random.default_rng(0).permutation(np.repeat(np.arange(6), sizes))
plan = ovs.plan(labels, "median", seed=0, thin=True)
print(plan.summary())

window = math.ceil(max(sizes) / plan.targets[0])
uses = sum(plan.copies(epoch) for epoch in range(window))
head = labels == 0
print(f"class 0: {sizes[0]} samples, {plan.targets[0]} per epoch;")
low, high = uses[head].min(), uses[head].max()
print(f"  over {window} epochs every sample used {low}-{high} times")
assert uses[head].min() >= 1 and uses[head].max() - uses[head].min() <= 1

sampler = ovs.Sampler(plan)
sampler.set_epoch(3)
epoch = np.bincount(labels[list(sampler)], minlength=6)
print("epoch 3 per class:", epoch.tolist())
assert epoch.tolist() == list(plan.targets.values())

stream = ovs.balance(
    [{"label": int(y)} for y in labels], strategy="median", seed=0, thin=True
)
print("Python stream, one epoch:", len(list(stream)), "elements")
