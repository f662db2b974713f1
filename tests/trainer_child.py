"""One rank of a two-process training run under a trainer (Accelerate, the
Hugging Face Trainer, Lightning, plain DDP) that records every index it trains
on; the union over ranks is compared with the plan by tests/test_trainers.py.

Run under torchrun: trainer_child.py FRAMEWORK SETUP OUT CHECKPOINTS
SETUP: `first` (epoch 0, then epoch 1 up to STOP batches and a checkpoint),
`resumed` (the rest of epoch 1 from that checkpoint), or a wrong setup.
Writes OUT/rank{r}.json: {"seen": {epoch: [batch, ...]}, "error", "warnings"}.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

import oversample as ovs

FRAMEWORK, SETUP, OUT, CHECKPOINTS = sys.argv[1:5]
LABELS = np.repeat(np.arange(5), [3000, 1200, 500, 220, 81])
PLAN = ovs.plan(LABELS, seed=0)
BATCH, STOP = 32, 100  # STOP: the batches of epoch 1 each rank trains before the stop
RANK = int(os.environ["RANK"])
SEEN: dict[int, list[list[int]]] = {}


def record(epoch: int, batch: torch.Tensor) -> None:
    SEEN.setdefault(int(epoch), []).append(batch.view(-1).long().tolist())


class Indices(Dataset):
    """Sample i is the float i (a dict with `x` for the Hugging Face Trainer)."""

    def __init__(self, keyed: bool = False) -> None:
        self.keyed = keyed

    def __len__(self) -> int:
        return LABELS.size

    def __getitem__(self, i: int):
        value = torch.tensor([float(i)])
        return {"x": value} if self.keyed else value


def accelerate() -> None:
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    if SETUP == "wrong":  # our old guide: a rank split, dealt out again
        split = ovs.Sampler(PLAN, num_replicas=2, rank=accelerator.process_index)
        loader = DataLoader(Indices(), sampler=split, batch_size=BATCH)
    else:
        batches = ovs.DealtBatchSampler(
            ovs.Sampler(PLAN), BATCH, num_processes=accelerator.num_processes
        )
        loader = DataLoader(Indices(), batch_sampler=batches)
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    start = 1 if SETUP == "resumed" else 0
    if SETUP == "resumed":
        batches.skip(STOP)  # the user's own step count, saved with the model
    for epoch in range(start, 2):
        loader.set_epoch(epoch)
        for step, x in enumerate(loader):
            if SETUP == "first" and epoch == 1 and step == STOP:
                return
            record(epoch, x)
            optimizer.zero_grad()
            accelerator.backward(model(x).sum())
            optimizer.step()


def hugging_face() -> None:
    import transformers

    epoch = [0]

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(1, 1)

        def forward(self, x: torch.Tensor) -> dict:
            record(epoch[0], x)
            return {"loss": self.linear(x).sum()}

    class Track(transformers.TrainerCallback):
        def on_epoch_begin(self, args, state, control, **kwargs):
            epoch[0] = int(state.epoch + 1e-9)

        def on_step_end(self, args, state, control, **kwargs):
            if SETUP == "first" and state.global_step == 235 + STOP:
                control.should_training_stop = True

    args = transformers.TrainingArguments(
        output_dir=CHECKPOINTS,
        per_device_train_batch_size=BATCH,
        num_train_epochs=2,
        learning_rate=0.0,
        use_cpu=True,
        report_to=[],
        save_strategy="steps",
        save_steps=235 + STOP,
        logging_strategy="no",
        disable_tqdm=True,
    )
    kwargs = {"model": Model(), "args": args, "train_dataset": Indices(keyed=True)}
    kwargs["callbacks"] = [Track()]
    if SETUP == "wrong":  # overriding the sampler: a rank split, dealt out again

        class Trainer(transformers.Trainer):
            def _get_train_sampler(self, dataset=None):
                return ovs.Sampler(PLAN, num_replicas=2, rank=RANK)

        Trainer(**kwargs).train()
        return
    trainer = ovs.PlanTrainer(plan=PLAN, **kwargs)
    resumed = f"{CHECKPOINTS}/checkpoint-{235 + STOP}"
    trainer.train(resume_from_checkpoint=resumed if SETUP == "resumed" else None)


def lightning() -> None:
    import lightning
    from torchdata.stateful_dataloader import StatefulDataLoader

    class Module(lightning.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(1, 1)

        def training_step(self, x: torch.Tensor, index: int) -> torch.Tensor:
            record(self.current_epoch, x)
            return self.linear(x).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.0)

    class Stop(lightning.Callback):
        def on_train_batch_end(self, trainer, *args) -> None:
            if SETUP == "first" and trainer.global_step == 235 + STOP:
                trainer.should_stop = True

    if SETUP == "wrong":  # our old guide: a rank split, wrapped and split again
        split = ovs.Sampler(PLAN, num_replicas=2, rank=RANK)
        loader = DataLoader(Indices(), sampler=split, batch_size=BATCH)
    else:
        sampler = ovs.DistributedSampler(PLAN)
        loader = StatefulDataLoader(Indices(), sampler=sampler, batch_size=BATCH)
    checkpoint = lightning.pytorch.callbacks.ModelCheckpoint(
        dirpath=CHECKPOINTS, every_n_train_steps=235 + STOP, save_top_k=-1
    )
    trainer = lightning.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=2,
        logger=False,
        callbacks=[checkpoint, Stop()],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    saved = sorted(Path(CHECKPOINTS).glob("*.ckpt"))
    path = str(saved[0]) if SETUP == "resumed" else None
    trainer.fit(Module(), loader, ckpt_path=path)


def ddp() -> None:
    torch.distributed.init_process_group("gloo")
    sampler = ovs.Sampler(PLAN) if SETUP == "wrong" else ovs.DistributedSampler(PLAN)
    loader = DataLoader(Indices(), sampler=sampler, batch_size=BATCH)
    state = Path(CHECKPOINTS) / "sampler.json"
    start = 0
    if SETUP == "resumed":
        sampler.load_state_dict(json.loads(state.read_text()))
        start = 1
    for epoch in range(start, 2):
        sampler.set_epoch(epoch)
        for step, x in enumerate(loader):
            record(epoch, x)
            if SETUP == "first" and epoch == 1 and step + 1 == STOP:
                if RANK == 0:
                    state.write_text(json.dumps(sampler.state_dict()))
                return
    torch.distributed.destroy_process_group()


def main() -> None:
    run = {"accelerate": accelerate, "hf": hugging_face, "lightning": lightning}
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            run.get(FRAMEWORK, ddp)()
        except (ValueError, TypeError) as refused:
            error = f"{type(refused).__name__}: {refused}"
    ours = sorted({str(w.message) for w in caught if "ovs." in str(w.message)})
    result = {"seen": SEEN, "error": error, "warnings": ours}
    (Path(OUT) / f"rank{RANK}.json").write_text(json.dumps(result))
    sys.stdout.flush()
    sys.stderr.flush()
    # NOTE: what is tested is written; leave without the interpreter's
    # teardown, where a framework's C++ threads (gloo, Lightning's DDP) now
    # and then abort a loaded machine ("terminate called without an active
    # exception") after a run that finished.
    os._exit(0)


if __name__ == "__main__":
    main()
