"""The Hugging Face Trainer on a plan's epochs, exact on any number of
processes; imports transformers and torch (loaded on first use)."""

from __future__ import annotations

from typing import Any

import transformers
from torch.utils.data import DataLoader

from oversample.core.plan import Plan
from oversample.index.dealt import DealtBatchSampler
from oversample.index.sampler import Sampler


class PlanTrainer(transformers.Trainer):
    """A `transformers.Trainer` whose training batches are the plan's epochs.

    `ovs.PlanTrainer(plan=plan, model=..., args=..., train_dataset=...)`:
    epoch e trains on exactly `plan.copies(e)`, shuffled, on one process or
    dealt out to many by Accelerate (`ovs.DealtBatchSampler`): every process
    gets the same number of batches, of `per_device_train_batch_size` or one
    fewer, and nothing is padded. Columns, collator and workers are the
    Trainer's own. A resume mid-epoch (`train(resume_from_checkpoint=...)`)
    starts the epoch after the batches the checkpoint trained on, computing
    none of them; the Trainer's step count is the state (the Sampler's own
    is not saved). Subclass it as you would the Trainer.

    Args:
        plan: the `ovs.Plan` of the training set (`train_dataset[i]` is the
            plan's sample i).
        shuffle: as in `ovs.Sampler`.
        *args: the Trainer's.
        **kwargs: the Trainer's.
    """

    def __init__(
        self, *args: Any, plan: Plan, shuffle: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.batches = DealtBatchSampler(
            Sampler(plan, shuffle=shuffle),
            self.args.per_device_train_batch_size,
            num_processes=self.accelerator.num_processes,
        )

    def get_train_dataloader(self) -> DataLoader:
        """The Trainer's training loader with `self.batches` as its batches."""
        # NOTE: the Trainer's own loader carries its column removal, collator,
        # worker seeding and settings; only its batches are replaced.
        own = super().get_train_dataloader()
        loader = DataLoader(
            own.dataset,
            batch_sampler=self.batches,
            collate_fn=own.collate_fn,
            num_workers=own.num_workers,
            pin_memory=own.pin_memory,
            worker_init_fn=own.worker_init_fn,
            persistent_workers=own.persistent_workers,
            prefetch_factor=own.prefetch_factor,
            multiprocessing_context=own.multiprocessing_context,
        )
        return self.accelerator.prepare(loader)

    def get_resumed_dataloader(
        self, dataloader: DataLoader, num_batches: int
    ) -> DataLoader:
        """The same loader, starting its next epoch after `num_batches` of
        this process's batches (`ovs.DealtBatchSampler.skip`)."""
        self.batches.skip(num_batches)
        return dataloader
