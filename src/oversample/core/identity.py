"""The identity of a Python callable that decides copies (a `where=`
predicate): a hash of its code, constants, defaults, closure values and the
globals it reads, so that a state saved under one predicate is refused by a
stream built with another; None, with the reason, where what it reads cannot
be fingerprinted.

Examples:
    >>> of_callable(lambda x: x < 5)[0] == of_callable(lambda x: x < 5)[0]
    True
    >>> of_callable(lambda x: x < 5)[0] == of_callable(lambda x: x > 30)[0]
    False
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import types
from collections.abc import Callable
from typing import Any

import numpy as np

_DEPTH = 4  # functions reached through globals and closures, at most
HINT = (
    "Compute the condition into a field of each example (or, in tf.data, a"
    " feature: `ds.map(...)`) and give a `where` that only reads it, or use"
    " `indices=` or per-class `copies`."
)


class UnknownError(Exception):
    """What a callable reads cannot be fingerprinted; the message says what."""


def of_callable(fn: Callable[..., Any]) -> tuple[str | None, str | None]:
    """(identity, None), or (None, why it cannot be known)."""
    digest = hashlib.blake2b(digest_size=16)
    try:
        _feed(digest, fn, _DEPTH)
    except UnknownError as error:
        return None, f"`where` reads {error}, which oversample cannot fingerprint"
    return digest.hexdigest(), None


def _feed(digest: Any, value: object, depth: int) -> None:
    """Adds `value` to the digest: plain data by value, functions by what
    decides their result."""
    text = _plain(value)
    if text is not None:
        digest.update(text.encode())
        return
    if isinstance(value, np.ndarray) and value.dtype != object:
        digest.update(f"ndarray:{value.dtype.str}:{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
        return
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        digest.update(f"{type(value).__name__}:{len(items)}".encode())
        for item in items:
            _feed(digest, item, depth)
        return
    if isinstance(value, dict):
        digest.update(f"dict:{len(value)}".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key, depth)
            _feed(digest, value[key], depth)
        return
    if isinstance(value, types.ModuleType):
        digest.update(f"module:{value.__name__}".encode())
        return
    if isinstance(value, types.BuiltinFunctionType | np.ufunc):
        module = getattr(value, "__module__", None) or ""
        digest.update(f"builtin:{module}.{value.__name__}".encode())
        return
    if isinstance(value, functools.partial):
        digest.update(b"partial")
        _feed(digest, value.func, depth)
        _feed(digest, value.args, depth)
        _feed(digest, value.keywords, depth)
        return
    if isinstance(value, types.FunctionType):
        if depth > 0:
            _function(digest, value, depth - 1)
        else:  # NOTE: deep helpers are named, not read
            digest.update(f"function:{value.__module__}.{value.__qualname__}".encode())
        return
    if isinstance(value, type):
        digest.update(f"type:{value.__module__}.{value.__qualname__}".encode())
        return
    raise UnknownError(f"{type(value).__name__} {_short(value)}")


def _plain(value: object) -> str | None:
    """A canonical text of a scalar, or None."""
    if value is None or isinstance(value, bool | int | float | complex | str | bytes):
        return f"{type(value).__name__}:{value!r}"
    if isinstance(value, np.generic):
        return f"{value.dtype.str}:{value.item()!r}"
    return None


def _function(digest: Any, fn: types.FunctionType, depth: int) -> None:
    digest.update(f"function:{fn.__module__}".encode())
    _code(digest, fn.__code__)
    _feed(digest, fn.__defaults__, depth)
    _feed(digest, fn.__kwdefaults__, depth)
    cells = fn.__closure__ or ()
    for name, cell in zip(fn.__code__.co_freevars, cells, strict=True):
        digest.update(f"free:{name}".encode())
        try:
            contents = cell.cell_contents
        except ValueError:  # an empty cell: a name not bound yet
            contents = None
        _feed(digest, contents, depth)
    for name in _global_names(fn.__code__):
        if name in fn.__globals__:
            digest.update(f"global:{name}".encode())
            _feed(digest, fn.__globals__[name], depth)
        elif not hasattr(builtins, name):
            digest.update(f"unbound:{name}".encode())


def _code(digest: Any, code: types.CodeType) -> None:
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            _code(digest, constant)
        else:
            digest.update(repr(constant).encode())


def _global_names(code: types.CodeType) -> list[str]:
    """The names a function's code (and nested code) may read as globals."""
    names = list(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names.extend(_global_names(constant))
    return sorted(set(names))


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
