"""Compiled (numba) loops of the Sampler's epoch order; `_order` holds the
NumPy reference that these must match bit for bit.

Imported only when numba is installed (the `fast` extra) and a Sampler first
computes an index, so `import oversample` never loads numba.

Every loop takes the epoch as two arrays: `data` (int64, from `pack`: the
permutation's size, widths and keys, then the class layout) and `order` (the
plan's samples grouped by class; empty when the classes are ranges of the
samples, a mixture's sources) or `ends` (slots per sample).
NOTE: numba charges for every argument of a call from Python; two arrays keep
`sampler[i]` near 0.2 us of dispatch instead of 0.7 us for ten arguments.

A window (`*_take`, `*_run`) runs BLOCK slots at a time through passes the
compiler turns into vector code: the four rounds of every slot at once, then
the few slots that walked outside the epoch again; each position's class; its
place in the class by float division (exact where it is used: every operand
below 2**52). Written as one scalar loop, the walk's and the layout's branches
mispredict and each integer division waits for the last: 36 -> 19 ns per
index at 10**6 labels.
"""

from __future__ import annotations

import numba
import numpy as np

from oversample.core.permutation import ROUNDS

HEAD = 8  # total, low, bits, shift, classes, rounds, exact, near; keys, rows, bucket
ROW = 8  # per class: first slot, end slot, base, extra, size, inverse, start, first
BLOCK = 1 << 12  # slots a window takes through each pass at a time
BUCKET_BITS = 16  # a class layout's buckets: 2**16 or fewer
WALKS = 2  # tries of cycle-walking taken over a whole block
EXACT = 1 << 52  # below this, int64 -> float64 is exact
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_ONE = np.uint64(1)
_WORD = np.uint64(64)

_jit = numba.njit(cache=True, nogil=True)
_inline = numba.njit(cache=True, nogil=True, inline="always")
# NOTE: numba's default error model checks every division for a zero divisor,
# which keeps the compiler from vectorizing it; no divisor here is zero.
_vector = numba.njit(cache=True, nogil=True, error_model="numpy")
_vector_inline = numba.njit(
    cache=True, nogil=True, inline="always", error_model="numpy"
)


def pack(
    total: int,
    low: int,
    bits: int,
    keys: np.ndarray,
    classes: tuple[np.ndarray, np.ndarray] | None = None,
    ends: np.ndarray | None = None,
) -> np.ndarray:
    """One int64 array of the permutation and its layout: for a class
    layout (`classes`: its starts and table) a row of each field over the
    classes and the class at every 2**shift-th slot; for a per-sample layout
    (`ends`), the sample at every 2**shift-th slot."""
    if classes is None:
        shift, parts = _sample_marks(ends)
        count = exact = near = 0
    else:
        shift, exact, near, parts = _class_rows(*classes)
        count = classes[1].shape[1]
    head = [total, low, bits, shift, count, keys.size, exact, near]
    words = [np.array(head, np.int64), keys.view(np.int64)]
    return np.concatenate([*words, *(np.asarray(p, np.int64) for p in parts)])


def _sample_marks(ends: np.ndarray | None) -> tuple[int, list[np.ndarray]]:
    """The shift and the sample at every 2**shift-th slot."""
    if ends is None or not ends.size:
        return 0, []
    # NOTE: about eight samples per bucket: a search within a cache line or
    # two, not over all of `ends` (430 -> 64 ns per index at 2**22 weights),
    # for an eighth of `ends`' memory (marks below the total only: a mark
    # past it could pass 2**63)
    mean = max(1, int(ends[-1]) // ends.size)
    shift = min(mean.bit_length() - 1 + 3, 62)
    found = _at_marks(ends, shift)
    return shift, [np.minimum(np.append(found, ends.size - 1), ends.size - 1)]


def _class_rows(
    starts: np.ndarray, table: np.ndarray
) -> tuple[int, int, int, list[np.ndarray]]:
    """The shift, `exact`, `near`, the rows of the classes' fields and the
    class at every 2**shift-th slot."""
    shift = max(0, int(starts[-1]).bit_length() - BUCKET_BITS)
    bucket = _at_marks(starts, shift) - 1
    # NOTE: a row of each field over the classes: a block's fields are read
    # from contiguous rows, one field at a time
    rows = np.vstack([starts[:-1], starts[1:], table]).astype(np.int64)
    sizes, slots = table[2], np.diff(starts)
    # the float division of the layout is exact for operands below 2**52:
    # a position inside its class (< the class's slots) and
    # inverse * shifted place (< size**2)
    exact = int(sizes.size == 0 or (sizes.max() <= 1 << 26 and slots.max() < EXACT))
    near = _near(starts, bucket, shift)
    return shift, exact, near, [rows.ravel(), _words(bucket)]


def _at_marks(edges: np.ndarray, shift: int) -> np.ndarray:
    """How many of the ascending `edges` are at most each multiple of
    2**shift up to the last edge."""
    marks = np.arange((int(edges[-1]) >> shift) + 1, dtype=np.int64) << shift
    return np.searchsorted(edges, marks, side="right")


def _near(starts: np.ndarray, bucket: np.ndarray, shift: int) -> int:
    """1 when every slot's class is its bucket's class or the next one: the
    class of each bucket's last slot is at most one past that of its first."""
    total = int(starts[-1])
    if total == 0:
        return 1
    last = np.minimum(((np.arange(bucket.size) + 1) << shift) - 1, total - 1)
    steps = np.searchsorted(starts, last, side="right") - 1 - bucket
    return int(steps.max() <= 1)


def _words(bucket: np.ndarray) -> np.ndarray:
    """The bucket as uint32 (a quarter of the cache an int64 table takes),
    two to an int64 word."""
    if bucket.size and int(bucket.max()) >= 1 << 32:
        raise ValueError(f"classes: {int(bucket.max()) + 1}, at most 2**32 allowed")
    words = np.zeros(bucket.size + bucket.size % 2, np.uint32)
    words[: bucket.size] = bucket
    return words.view(np.int64)


@_inline
def _feistel(data):
    """The permutation's size, first low width, bits and keys."""
    total, low, bits = np.uint64(data[0]), np.uint64(data[1]), np.uint64(data[2])
    return total, low, bits, data[HEAD : HEAD + data[5]]


@_inline
def _encrypt(x, low, bits, keys):
    for key in keys:
        high = bits - low
        left, right = x >> low, x & ((_ONE << low) - _ONE)
        mixed = ((right ^ np.uint64(key)) * _GOLDEN) >> (_WORD - high)
        x = (right << high) | (left ^ mixed)
        low = high
    return x


@_inline
def _decrypt(y, first, bits, keys):
    for r in range(keys.size - 1, -1, -1):
        width = first if r % 2 == 0 else bits - first
        high = bits - width
        right = y >> high
        mixed = ((right ^ np.uint64(keys[r])) * _GOLDEN) >> (_WORD - high)
        y = (((y & ((_ONE << high) - _ONE)) ^ mixed) << width) | right
    return y


@_inline
def _position(slot, total, low, bits, keys):
    x = _encrypt(np.uint64(slot), low, bits, keys)
    while x >= total:
        x = _encrypt(x, low, bits, keys)
    return np.int64(x)


@_inline
def _slot_of(position, total, low, bits, keys):
    y = _decrypt(np.uint64(position), low, bits, keys)
    while y >= total:
        y = _decrypt(y, low, bits, keys)
    return np.int64(y)


@_inline
def _layout(data):
    """The class layout's views: rows (ROW, C), bucket (uint32), shift,
    exact, near."""
    at = HEAD + data[5]
    rows = data[at : at + ROW * data[4]].reshape((ROW, data[4]))
    bucket = data[at + ROW * data[4] :].view(np.uint32)
    return rows, bucket, data[3], data[6], data[7]


@_inline
def _class_of(p, rows, bucket, shift):
    """The class whose slots hold layout position p."""
    # NOTE: an unsigned class: numba wraps a signed index that may be negative
    c = np.uint64(bucket[p >> shift])
    while rows[1, c] <= p:
        c += _ONE
    return c


@_inline
def _class_slot(p, rows, bucket, shift):
    """Where in `order` the sample at layout position p is."""
    c = _class_of(p, rows, bucket, shift)
    inside = p - rows[0, c]
    base, extra, size = rows[2, c], rows[3, c], rows[4, c]
    holders = extra * (base + 1)
    if inside < holders:
        place = inside // (base + 1)
    else:
        place = extra + (inside - holders) // base
    shifted = place + rows[6, c]
    if shifted >= size:
        shifted -= size
    return rows[7, c] + rows[5, c] * shifted % size


@_vector_inline
def _floor_div(a, d):
    """a // d for 0 <= a < 2**52 and 1 <= d < 2**52, in float arithmetic.

    Exact: a and d convert exactly, and a / d = k + r / d (r < d) is at least
    1 / d below k + 1, while rounding up to k + 1 would need it within half a
    unit of k + 1, (k + 1) / 2**53 >= 1 / d, that is d (k + 1) >= 2**53:
    impossible, as d k <= a < 2**52 and d < 2**52.
    """
    return np.int64(np.float64(a) / np.float64(d))


@_vector_inline
def _slot(slots, step, t):
    """Slot t of a window: slots[t], or with a step, slots[0] + step * t."""
    return slots[t] if step == 0 else slots[0] + step * t


@_vector_inline
def _positions(slots, step, out, lo, hi, data, pending):
    """out[lo:hi] = the permutation of its slots: the rounds of every slot at
    once, then of the few that walked outside [0, total) until none is."""
    total, low, bits, keys = _feistel(data)
    if keys.size != ROUNDS:
        for t in range(lo, hi):
            out[t] = _position(_slot(slots, step, t), total, low, bits, keys)
        return
    # NOTE: the keys as scalars: read from `data` inside the loop they could
    # alias `out` for all the compiler knows, and the loop would stay scalar
    k0, k1, k2, k3 = (
        np.uint64(keys[0]),
        np.uint64(keys[1]),
        np.uint64(keys[2]),
        np.uint64(keys[3]),
    )
    high = bits - low
    for t in range(lo, hi):
        x = np.uint64(_slot(slots, step, t))
        out[t] = np.int64(_four(x, low, high, k0, k1, k2, k3))
    # NOTE: most walks end within two more tries; those two run over the
    # whole block as vector code, the rest one by one (4.9 -> 3.4 ns per slot)
    for _ in range(WALKS):
        _walk(out[lo:hi], np.int64(total), low, high, k0, k1, k2, k3)
    count = 0
    for t in range(lo, hi):
        pending[count] = t
        count += np.int64(out[t] >= np.int64(total))
    while count:
        kept = 0
        for j in range(count):
            t = pending[j]
            x = np.int64(_four(np.uint64(out[t]), low, high, k0, k1, k2, k3))
            out[t] = x
            pending[kept] = t
            kept += np.int64(x >= np.int64(total))
        count = kept


@_vector
def _walk(block, total, low, high, k0, k1, k2, k3):
    """One more try of every slot of the block still outside [0, total).

    NOTE: a function of its own: inlined into `_positions`, the compiler
    left this loop scalar."""
    for t in range(block.size):
        x = block[t]
        y = np.int64(_four(np.uint64(x), low, high, k0, k1, k2, k3))
        outside = -np.int64(x >= total)  # all ones or zero: a branch-free choice
        block[t] = (y & outside) | (x & ~outside)


@_vector_inline
def _four(x, low, high, k0, k1, k2, k3):
    """`_encrypt` with ROUNDS = 4 keys, unrolled."""
    x = _round(x, low, high, k0)
    x = _round(x, high, low, k1)
    x = _round(x, low, high, k2)
    return _round(x, high, low, k3)


@_vector_inline
def _round(x, low, high, key):
    left, right = x >> low, x & ((_ONE << low) - _ONE)
    mixed = ((right ^ key) * _GOLDEN) >> (_WORD - high)
    return (right << high) | (left ^ mixed)


@_vector_inline
def _class_slots(out, lo, hi, data, scratch):
    """out[lo:hi]: layout positions -> places in `order`, `_class_slot` of
    each, in three passes: the classes, their fields gathered, the arithmetic
    (branch-free, float division when `exact`)."""
    rows, bucket, shift, exact, near = _layout(data)
    if not exact:
        for t in range(lo, hi):
            out[t] = _class_slot(out[t], rows, bucket, shift)
        return
    n = hi - lo
    first, end = rows[0], rows[1]
    # row 0: the position inside its class; 1: the class, then the result
    if near:  # one step at most from the bucket's class: no branch
        for j in range(n):
            p = out[lo + j]
            c = np.uint64(bucket[p >> shift])
            c += np.uint64(end[c] <= p)
            scratch[0, j] = p - first[c]
            scratch[1, j] = c
    else:
        for j in range(n):
            p = out[lo + j]
            c = _class_of(p, rows, bucket, shift)
            scratch[0, j] = p - first[c]
            scratch[1, j] = c
    for k in range(2, ROW):
        field = rows[k]
        for j in range(n):
            scratch[k, j] = field[np.uint64(scratch[1, j])]
    for j in range(n):
        inside = scratch[0, j]
        base, extra, size = scratch[2, j], scratch[3, j], scratch[4, j]
        holders = extra * (base + 1)
        late = np.int64(inside >= holders)
        place = _floor_div(inside - holders * late, base + 1 - late) + extra * late
        shifted = place + scratch[6, j]
        shifted -= size * np.int64(shifted >= size)
        turned = scratch[5, j] * shifted
        scratch[1, j] = scratch[7, j] + turned - _floor_div(turned, size) * size
    out[lo:hi] = scratch[1, :n]


@_jit
def class_at(slot, data, order):
    total, low, bits, keys = _feistel(data)
    rows, bucket, shift, _, _ = _layout(data)
    p = _position(slot, total, low, bits, keys)
    found = _class_slot(p, rows, bucket, shift)
    return found if order.size == 0 else np.int64(order[found])


@_jit
def sample_at(slot, data, ends):
    total, low, bits, keys = _feistel(data)
    p = _position(slot, total, low, bits, keys)
    return _sample_of(p, data, ends)


@_inline
def _sample_of(p, data, ends):
    """The sample whose slots [ends[i - 1], ends[i]) hold position p: a
    search between the samples at the marks before and after p."""
    bucket = data[HEAD + data[5] :]
    mark = p >> data[3]
    first, last = bucket[mark], bucket[mark + 1]
    while first < last:  # the first sample in [first, last] ending after p
        middle = (first + last) >> 1
        if ends[middle] <= p:
            first = middle + 1
        else:
            last = middle
    return first


@_vector_inline
def _class_window(slots, step, out, data, order):
    pending = np.empty(min(BLOCK, out.size), np.int64)
    scratch = np.empty((ROW, min(BLOCK, out.size)), np.int64)
    for lo in range(0, out.size, BLOCK):
        hi = min(lo + BLOCK, out.size)
        _positions(slots, step, out, lo, hi, data, pending)
        _class_slots(out, lo, hi, data, scratch)
        # NOTE: reading `order` in a pass of its own, branch-free, lets the
        # processor overlap its cache misses: 65 -> 35 ns per index at 10^7
        # samples. An empty `order`: the classes are ranges, the place is the
        # sample.
        if order.size:
            for t in range(lo, hi):
                out[t] = order[out[t]]


@_vector_inline
def _sample_window(slots, step, out, data, ends):
    pending = np.empty(min(BLOCK, out.size), np.int64)
    for lo in range(0, out.size, BLOCK):
        hi = min(lo + BLOCK, out.size)
        _positions(slots, step, out, lo, hi, data, pending)
        for t in range(lo, hi):
            out[t] = _sample_of(out[t], data, ends)


@_vector
def class_take(slots, out, data, order):
    _class_window(slots, 0, out, data, order)


@_vector
def class_run(run, out, data, order):
    """class_take of the slots run[0], run[0] + run[1], ... (out.size of them)."""
    _class_window(run[:1], run[1], out, data, order)


@_vector
def sample_take(slots, out, data, ends):
    _sample_window(slots, 0, out, data, ends)


@_vector
def sample_run(run, out, data, ends):
    _sample_window(run[:1], run[1], out, data, ends)


@_jit
def sample_fill(out, rank, replicas, data, ends, part):
    total, low, bits, keys = _feistel(data)
    position = part[2]
    for source in range(part[0], part[1]):
        while position < ends[source]:
            slot = _slot_of(position, total, low, bits, keys)
            mine = slot // replicas
            if slot - mine * replicas == rank:
                out[mine] = source
            position += 1
