"""Datasets shipped with oversample; importing this module registers them with TFDS."""

from __future__ import annotations

from oversample.datasets.digits_lt import DigitsLt, profile

__all__ = ["DigitsLt", "profile"]
