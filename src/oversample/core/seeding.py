"""Seed normalisation and derived sub-streams; the only place seeds are mixed."""

from __future__ import annotations

import hashlib
import secrets

import numpy as np

from oversample.core.validation import check_seed

MASK64 = (1 << 64) - 1
GOLDEN64 = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB


def resolve_seed(seed: object) -> int:
    """Returns `seed` as an int in [0, 2**64); `None` draws fresh entropy once."""
    if seed is None:
        return secrets.randbits(64)
    return check_seed(seed)


def derive(seed: int, *purpose: object) -> int:
    """Derives an independent 64-bit seed for `purpose` (e.g. "shuffle", epoch).

    NOTE: hashing, never `seed + epoch`, so that the streams of neighbouring
    seeds and epochs do not overlap.
    """
    text = "\x1f".join([str(seed), *(repr(p) for p in purpose)])
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def rng(seed: int, *purpose: object) -> np.random.Generator:
    """A NumPy generator for one derived purpose."""
    return np.random.Generator(np.random.Philox(key=derive(seed, *purpose)))


def raw_words(seed: int, count: int, *purpose: object) -> np.ndarray:
    """`count` uint64 words of a counter-based stream; stable across NumPy versions."""
    bit_generator = np.random.Philox(key=derive(seed, *purpose))
    return np.asarray(bit_generator.random_raw(count), dtype=np.uint64)


def mix64(x: np.ndarray | int) -> np.ndarray:
    """The splitmix64 finaliser over uint64, vectorised; the TF executor mirrors it."""
    z = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z ^ (z >> np.uint64(30))
        z = z * np.uint64(_MIX1)
        z = z ^ (z >> np.uint64(27))
        z = z * np.uint64(_MIX2)
        z = z ^ (z >> np.uint64(31))
    return z


def epoch_key(seed: int, epoch: np.ndarray | int) -> np.ndarray:
    """The per-epoch key of the counter-based (stochastic) rounding."""
    with np.errstate(over="ignore"):
        e = np.asarray(epoch, dtype=np.uint64) * np.uint64(GOLDEN64)
    return mix64(np.uint64(derive(seed, "stochastic")) ^ mix64(e))


def sample_hash(key: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """A uniform uint64 per (epoch key, sample key): a pure function, no state."""
    with np.errstate(over="ignore"):
        s = np.asarray(sample, dtype=np.uint64) * np.uint64(GOLDEN64)
    return mix64(np.asarray(key, dtype=np.uint64) ^ mix64(s))


def copy_seeds(
    seed: int,
    epoch: np.ndarray | int,
    keys: np.ndarray | int,
    copies: np.ndarray | int,
) -> np.ndarray:
    """The augmentation seed of each copy: a uint64 that is a pure function of
    (plan seed, epoch, sample key, copy index), with no state, so that the same
    copy gets the same seed in another process, on another worker and after a
    resume.

    For one sample in one epoch the map from copy index to seed is a bijection
    (splitmix64's finaliser and an xor with a constant are both one to one), so
    two copies of a sample in an epoch never share a seed.

    Examples:
        >>> import numpy as np
        >>> seeds = copy_seeds(0, epoch=0, keys=[7, 7, 7], copies=[0, 1, 2])
        >>> seeds.dtype.name, len(set(seeds.tolist()))
        ('uint64', 3)
        >>> int(copy_seeds(0, 0, 7, 1)) == int(seeds[1])
        True
    """
    base = np.asarray(copy_key(check_seed(seed)), dtype=np.uint64)
    for name, value in (("epoch", epoch), ("keys", keys), ("copies", copies)):
        array = np.asarray(value)
        if array.dtype.kind not in "iu" or (array.size and array.min() < 0):
            raise ValueError(
                f"`{name}` must be ints >= 0; got {name} of dtype {array.dtype}"
                + (f" with minimum {array.min()}." if array.size else ".")
            )
    per_epoch = sample_hash(base, np.asarray(epoch, dtype=np.int64))
    per_sample = sample_hash(per_epoch, np.asarray(keys, dtype=np.int64))
    return sample_hash(per_sample, np.asarray(copies, dtype=np.int64))


def copy_key(seed: int) -> int:
    """The plan seed's sub-stream of the copy seeds (`copy_seeds`)."""
    return derive(seed, "copy-seed")
