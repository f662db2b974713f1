"""How the samples of a source are keyed, chosen once where the kind of
source is told apart (`oversample.sources`) and handed to its executor as a
value: a sample's key decides its occurrence in its class, so every
decision is a pure function of (plan, key, epoch)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class By(enum.Enum):
    """What a sample's key is."""

    POSITION = "its position in one stream"
    ID = "a stable id read from the element (`key=`)"
    SHARD = "(shard, position in the shard), shards read by the executor"
    TAG = "(shard, position in the shard), the shard named by the example"


@dataclass(frozen=True)
class Keying:
    """The keying of one source: `by`, and for `By.ID` the `key` that reads
    each element's id."""

    by: By
    key: Any = None

    @property
    def sharded(self) -> bool:
        return self.by in (By.SHARD, By.TAG)


POSITION = Keying(By.POSITION)
