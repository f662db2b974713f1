"""Compiled (numba) loops of the Sampler's epoch order; `_order` holds the
NumPy reference that these must match bit for bit.

Imported only when numba is installed (the `fast` extra) and a Sampler first
computes an index, so `import oversample` never loads numba.
"""

from __future__ import annotations

import numba
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_ONE = np.uint64(1)
_WORD = np.uint64(64)

_jit = numba.njit(cache=True, nogil=True)
_inline = numba.njit(cache=True, nogil=True, inline="always")


@_inline
def _encrypt(x, keys, low, bits):
    for key in keys:
        high = bits - low
        left, right = x >> low, x & ((_ONE << low) - _ONE)
        x = (right << high) | (left ^ (((right ^ key) * _GOLDEN) >> (_WORD - high)))
        low = high
    return x


@_inline
def _decrypt(y, keys, low, bits):
    for r in range(keys.size - 1, -1, -1):
        width = low if r % 2 == 0 else bits - low
        high = bits - width
        right = y >> high
        left = (y & ((_ONE << high) - _ONE)) ^ (
            ((right ^ keys[r]) * _GOLDEN) >> (_WORD - high)
        )
        y = (left << width) | right
    return y


@_inline
def _position(slot, total, keys, low, bits):
    x = _encrypt(np.uint64(slot), keys, low, bits)
    while x >= total:
        x = _encrypt(x, keys, low, bits)
    return np.int64(x)


@_inline
def _inverse(position, total, keys, low, bits):
    y = _decrypt(np.uint64(position), keys, low, bits)
    while y >= total:
        y = _decrypt(y, keys, low, bits)
    return np.int64(y)


@_inline
def _class_source(p, starts, bucket, shift, table, order):
    c = bucket[p >> shift]
    while starts[c + 1] <= p:
        c += 1
    inside = p - starts[c]
    base, extra, size = table[0, c], table[1, c], table[2, c]
    holders = extra * (base + 1)
    if inside < holders:
        place = inside // (base + 1)
    else:
        place = extra + (inside - holders) // base
    shifted = place + table[4, c]
    if shifted >= size:
        shifted -= size
    return np.int64(order[table[5, c] + table[3, c] * shifted % size])


@_inline
def _sample_source(p, ends):
    return np.int64(np.searchsorted(ends, p, side="right"))


@_jit
def class_at(slot, total, keys, low, bits, starts, bucket, shift, table, order):
    p = _position(slot, total, keys, low, bits)
    return _class_source(p, starts, bucket, shift, table, order)


@_jit
def sample_at(slot, total, keys, low, bits, ends):
    return _sample_source(_position(slot, total, keys, low, bits), ends)


@_jit
def class_take(slots, out, total, keys, low, bits, starts, bucket, shift, table, order):
    for t in range(slots.size):
        p = _position(slots[t], total, keys, low, bits)
        out[t] = _class_source(p, starts, bucket, shift, table, order)


@_jit
def sample_take(slots, out, total, keys, low, bits, ends):
    for t in range(slots.size):
        out[t] = _sample_source(_position(slots[t], total, keys, low, bits), ends)


@_jit
def class_fill(out, rank, replicas, total, keys, low, bits, table, order, part):
    """Walks the layout of classes [part[0], part[1]) (from slot part[2]) and
    writes each copy where the permutation sends it: sequential reads, no
    search, no division per copy."""
    position = part[2]
    for c in range(part[0], part[1]):
        base, extra, size = table[0, c], table[1, c], table[2, c]
        step, first = table[3, c], table[5, c]
        occurrence = step * table[4, c] % size
        for place in range(size):
            source = order[first + occurrence]
            for _ in range(base + (1 if place < extra else 0)):
                slot = _inverse(position, total, keys, low, bits)
                # NOTE: `slot % replicas == rank` makes this loop 4x slower.
                mine = slot // replicas
                if slot - mine * replicas == rank:
                    out[mine] = source
                position += 1
            occurrence += step
            if occurrence >= size:
                occurrence -= size


@_jit
def sample_fill(out, rank, replicas, total, keys, low, bits, ends, part):
    position = part[2]
    for source in range(part[0], part[1]):
        while position < ends[source]:
            slot = _inverse(position, total, keys, low, bits)
            mine = slot // replicas
            if slot - mine * replicas == rank:
                out[mine] = source
            position += 1
