"""JSON documents of plans and counts: per-sample arrays as zlib + base64
text, a checksum over the content, atomic writes and the checked reading of a
document (truncated, corrupted, edited by hand or of another version: refused,
never read as another plan)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import secrets
import stat
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

CHECKSUM = "checksum"
T = TypeVar("T")


def pack(array: np.ndarray | None) -> dict[str, str] | None:
    if array is None:
        return None
    data = base64.b64encode(zlib.compress(np.ascontiguousarray(array).tobytes(), 6))
    return {"dtype": array.dtype.str, "data": data.decode("ascii")}


def unpack(packed: dict[str, str] | None) -> np.ndarray | None:
    if packed is None:
        return None
    raw = zlib.decompress(base64.b64decode(packed["data"], validate=True))
    return np.frombuffer(raw, dtype=np.dtype(packed["dtype"])).copy()


def _digest(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(canonical.encode(), digest_size=16).hexdigest()


def seal(document: dict[str, Any]) -> str:
    """The document as JSON text with a checksum of its content."""
    return json.dumps({**document, CHECKSUM: _digest(document)}, separators=(",", ":"))


def load_document(
    text: str, marker: str, version: int, what: str, source: str = "`text`"
) -> dict[str, Any]:
    """Parses `text` and checks its format marker, version and checksum."""
    if not isinstance(text, str):
        raise TypeError(f"{source} must be JSON text (str); got {type(text).__name__}.")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{source} is not JSON ({error.msg} at character {error.pos} of"
            f" {len(text)}): truncated, or not {what}."
        ) from None
    if not isinstance(document, dict) or document.get("format") != marker:
        raise ValueError(f"{source} is not {what} (no {marker!r} format marker).")
    if document.get("version") != version:
        raise ValueError(
            f"{source}: {what} of format version {document.get('version')!r}; this"
            f" oversample reads version {version}. Write it again from its source."
        )
    checksum = document.pop(CHECKSUM, None)
    if checksum is None:
        raise ValueError(
            f"{source}: {what} has no checksum: it was not written by `to_json` or"
            " `save`, or was edited by hand."
        )
    if checksum != _digest(document):
        raise ValueError(
            f"{source}: the checksum does not match the content of {what}: the"
            " file was corrupted or edited by hand. Write it again from its source."
        )
    return document


def build(
    make: Callable[[dict[str, Any]], T],
    document: dict[str, Any],
    what: str,
    source: str,
) -> T:
    """`make(document)`, with a malformed field refused as a ValueError naming
    the source (a document whose checksum matches but was made by hand)."""
    try:
        return make(document)
    except (
        KeyError,
        TypeError,
        ValueError,
        IndexError,
        zlib.error,
        binascii.Error,
    ) as error:
        raise ValueError(
            f"{source}: {what} is malformed ({type(error).__name__}: {error})."
        ) from None


class Saved:
    """`save` and `load` for a document class: it gives `to_json`, a
    `_from_text(text, source)` classmethod and the `_document` it is."""

    _document: ClassVar[str]

    def to_json(self) -> str:
        raise NotImplementedError

    @classmethod
    def _from_text(cls, text: str, source: str) -> Any:
        raise NotImplementedError

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the JSON document to `path` atomically (a temporary file and
        a rename: a crash never leaves half a file)."""
        return write_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Any:
        """Reads a document written by `save`; a truncated, corrupted,
        hand-edited or other-version file is refused with an error naming it."""
        return cls._from_text(read_text(path, cls._document), f"'{path}'")


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Writes `text` to `path` through a temporary file in the same folder and
    a rename: a crash leaves the old file or the new one, never half of one.
    A new file gets its mode from the process umask (0644 under 0022), an
    existing one keeps its mode."""
    target = Path(path)
    try:
        kept = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        kept = None
    try:
        handle, temporary = _create_beside(target)
    except OSError as error:
        # NOTE: the path given, not the temporary file's name beside it.
        raise OSError(error.errno, error.strerror, str(path)) from None
    try:
        if kept is not None:
            os.fchmod(handle, kept)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


def _create_beside(target: Path) -> tuple[int, Path]:
    """A new empty file beside `target` under a random name, open for writing.

    NOTE: not `tempfile.mkstemp`, which creates it 0600 whatever the umask, so
    that a teammate or a CI step under another user could not read a saved
    plan; `os.open` with 0666 lets the kernel apply the umask, with no window
    in which the process umask is changed.
    """
    while True:
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(8)}")
        with contextlib.suppress(FileExistsError):
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            return os.open(temporary, flags, 0o666), temporary


def read_text(path: str | os.PathLike[str], what: str) -> str:
    """The text of a saved document, an error naming the file otherwise."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"'{path}' is not {what}: not UTF-8 text ({error.reason})."
        ) from None
