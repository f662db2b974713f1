"""A different augmentation for every copy in tf.data: `copy_seeds=True` adds
an int64 [2] seed per copy for the `tf.image.stateless_random_*` ops, so the
copies of a rare image are different views of it, the same in every run, and
the iterator still checkpoints (no stateful op in the pipeline).

Requires: tensorflow.
"""

import tempfile

import numpy as np
import tensorflow as tf

import oversample as ovs

rng = np.random.default_rng(0)
labels = np.repeat(np.arange(3), [60, 15, 3])
images = rng.random((labels.size, 16, 16, 3)).astype(np.float32)
ds = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})


def augment(element, marks):
    """One view of the image per seed: a flip, a crop, a brightness shift."""
    seed = marks["seed"]  # int64 [2], its own for every copy
    # each op gets its own seed, split from the copy's (the same for the same copy)
    flip, crop, light = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    image = tf.image.stateless_random_flip_left_right(element["image"], seed=flip)
    image = tf.image.resize_with_crop_or_pad(image, 20, 20)
    image = tf.image.stateless_random_crop(image, [16, 16, 3], seed=crop)
    image = tf.image.stateless_random_brightness(image, 0.2, seed=light)
    return image, element["label"]


def pipeline():
    balanced = ovs.balance(ds, seed=0, copy_seeds=True)
    return balanced.map(augment, num_parallel_calls=tf.data.AUTOTUNE).batch(16)


out = pipeline()
# Every class reaches 60; the 3 rare images give 60 copies, no two alike.
seen = np.concatenate([y.numpy() for _, y in out])
assert np.bincount(seen).tolist() == [60, 60, 60]
rare = np.concatenate([x.numpy()[y.numpy() == 2] for x, y in out])
assert np.unique(rare.reshape(len(rare), -1), axis=0).shape[0] == 60

# The iterator checkpoints and resumes with the same views.
iterator = iter(out)
next(iterator)
path = tf.train.Checkpoint(iterator=iterator).save(tempfile.mkdtemp() + "/ckpt")
rest = [x.numpy() for x, _ in iterator]
again = iter(pipeline())
tf.train.Checkpoint(iterator=again).restore(path)
resumed = [x.numpy() for x, _ in again]
assert all(np.array_equal(a, b) for a, b in zip(rest, resumed, strict=True))
print(f"{len(seen)} augmented copies, {len(rare)} distinct views of 3 rare images")
