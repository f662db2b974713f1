"""Feeding Ray Train without losing rows: `ExactSplit`, a `ray.train.DataConfig`
that splits each dataset over the workers with `streaming_split(equal=False)`.

Ray Train's default DataConfig splits with `equal=True`, which trims rows so
that every worker gets as many: an exact epoch arrives short. With
`ExactSplit` every row of the epoch reaches one worker; the shares are uneven
by a few blocks (each worker counts its own). Imported on its own, with Ray.

Example:

    from oversample.ray.train import ExactSplit
    trainer = TorchTrainer(loop, scaling_config=..., datasets={"train": out},
                           dataset_config=ExactSplit())
"""

from __future__ import annotations

from typing import Any, Literal

from ray.data import Dataset
from ray.train import DataConfig


class ExactSplit(DataConfig):
    """A DataConfig whose split keeps every row (`equal=False`); the datasets
    not named in `datasets_to_split` go whole to every worker."""

    def __init__(
        self,
        datasets_to_split: Literal["all"] | list[str] = "all",
        execution_options: Any = None,
        locality: bool = True,
    ) -> None:
        super().__init__(
            datasets_to_split=datasets_to_split,
            execution_options=execution_options,
            enable_shard_locality=locality,
        )
        self.split_names = datasets_to_split
        self.options = execution_options
        self.locality = locality

    def configure(
        self,
        datasets: dict[str, Dataset],
        world_size: int,
        worker_handles: Any,
        worker_node_ids: Any,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{} for _ in range(world_size)]
        split = set(datasets) if self.split_names == "all" else set(self.split_names)
        hints = worker_node_ids if self.locality else None
        for name, dataset in datasets.items():
            options = self.options
            if isinstance(options, dict):
                options = options.get(name)
            if options is not None:
                dataset = Dataset.copy(dataset)
                dataset.context.execution_options = options
            if name in split:
                parts = dataset.streaming_split(
                    world_size, equal=False, locality_hints=hints
                )
                for rank, part in enumerate(parts):
                    out[rank][name] = part
            else:
                for rank in range(world_size):
                    out[rank][name] = dataset.iterator()
        return out
