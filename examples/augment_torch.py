"""A different augmentation for every copy in PyTorch: a Sampler with
`copy_seeds=True` yields (index, seed) pairs, and `Dataset.__getitem__` draws
the copy's augmentation from a `torch.Generator` seeded with it. The copies of
a rare image are different views, the same on every rank, in every worker
process and after a resume; the global torch RNG is never touched.

Requires: torch.
"""

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

import oversample as ovs

labels = np.repeat(np.arange(3), [60, 15, 3])
images = torch.rand(labels.size, 3, 20, 20, generator=torch.Generator().manual_seed(0))


def augment(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random 16x16 crop, flipped half of the time, from `generator` alone."""
    top, left = torch.randint(0, 5, (2,), generator=generator).tolist()
    image = image[:, top : top + 16, left : left + 16]
    if torch.rand((), generator=generator) < 0.5:
        image = image.flip(-1)
    return image


class Augmented(Dataset):
    def __len__(self):
        return labels.size

    def __getitem__(self, item):
        index, seed = item  # the Sampler's pair
        generator = torch.Generator().manual_seed(seed)
        return augment(images[index], generator), int(labels[index])


plan = ovs.plan(labels, seed=0)
sampler = ovs.Sampler(plan, copy_seeds=True)
loader = DataLoader(Augmented(), sampler=sampler, batch_size=32, num_workers=2)

views, classes = zip(*[(x, y) for x, y in loader], strict=True)
views, classes = torch.cat(views), torch.cat(classes)
assert torch.bincount(classes).tolist() == [60, 60, 60]
rare = views[classes == 2].reshape(60, -1)
# 60 copies of 3 images: 60 distinct seeds, most of the 50 views a 5 x 5 crop
# and a flip allow (not 3 views repeated 20 times)
assert len({seed for index, seed in sampler if labels[index] == 2}) == 60
assert torch.unique(rare, dim=0).shape[0] > 30

# The same pairs in another epoch's order differ; the same epoch repeats.
repeat = DataLoader(Augmented(), sampler=sampler, batch_size=32)
again = torch.cat([x for x, _ in repeat])
assert torch.equal(again, views)
sampler.set_epoch(1)
assert list(sampler) != [pair for pair in ovs.Sampler(plan, copy_seeds=True)]

print(f"{len(classes)} augmented copies, {torch.unique(rare, dim=0).shape[0]} views")
