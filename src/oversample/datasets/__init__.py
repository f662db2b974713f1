"""Datasets shipped with oversample; importing this module registers them with TFDS."""

from __future__ import annotations

from oversample.datasets.digits20_lt import Digits20Lt
from oversample.datasets.digits_lt import DigitsLt, profile

__all__ = ["Digits20Lt", "DigitsLt", "profile"]
