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
import dis
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
    _code(digest, fn.__code__, depth)
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
    for name, attributes in _reads(fn.__code__):
        if name not in fn.__globals__:
            if not hasattr(builtins, name):
                digest.update(f"unbound:{name}".encode())
            continue
        value = fn.__globals__[name]
        if not isinstance(value, types.ModuleType):
            digest.update(f"global:{name}".encode())
            _feed(digest, value, depth)
            continue
        # NOTE: what is read through a module (`cfg.LIMIT`, `np.where`): data by
        # value, the rest (functions, classes, modules) by qualified name.
        path = [name]
        for attribute in attributes:
            if not isinstance(value, types.ModuleType) or not hasattr(value, attribute):
                break
            value, path = getattr(value, attribute), [*path, attribute]
        digest.update(f"global:{'.'.join(path)}".encode())
        try:
            _feed(digest, value, 0)
        except UnknownError:
            named = getattr(value, "__qualname__", type(value).__qualname__)
            module = getattr(value, "__module__", type(value).__module__)
            digest.update(f"named:{module}.{named}".encode())


def _code(digest: Any, code: types.CodeType, depth: int) -> None:
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            _code(digest, constant, depth)
        else:
            # NOTE: by value, sets sorted: a set literal compiles to a
            # frozenset whose repr follows the process's hash seed.
            _feed(digest, constant, depth)


def _reads(code: types.CodeType) -> list[tuple[str, tuple[str, ...]]]:
    """The globals a function's code (and nested code) reads, each with the
    attributes read off it in turn (`cfg.LIMIT`: ("cfg", ("LIMIT",)))."""
    instructions = list(dis.get_instructions(code))
    found = []
    for place, instruction in enumerate(instructions):
        if instruction.opname not in ("LOAD_GLOBAL", "LOAD_NAME"):
            continue
        attributes = []
        for after in instructions[place + 1 :]:
            if after.opname not in ("LOAD_ATTR", "LOAD_METHOD"):
                break
            attributes.append(str(after.argval))
        found.append((str(instruction.argval), tuple(attributes)))
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            found.extend(_reads(constant))
    return sorted(set(found))


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
