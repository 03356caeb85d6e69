"""DataLoader: batches of a dataset as tuples of Tensors, with seeded shuffling."""
from __future__ import annotations

import math
from typing import Iterator, Optional

import numpy as np

from ..creation import default_generator
from ..tensor import Tensor
from .dataset import Dataset, fetch_batch


class DataLoader:
    """Iterate over `dataset` in batches, each a tuple of Tensors stacked along a new first axis.

    `shuffle=True` draws a new permutation every epoch: from a generator seeded once with `seed`,
    or, when `seed` is None, from the global generator of `ag.manual_seed` (so one call to
    `manual_seed` makes the whole run reproducible). Datasets that define `__getitems__`
    (TensorDataset, the image datasets, Subset) are read a whole batch at a time.

    >>> import numpy as np
    >>> from autograd.data import TensorDataset
    >>> loader = DataLoader(TensorDataset(np.arange(5.0), np.arange(5)), batch_size=2)
    >>> len(loader), [tuple(y.tolist()) for _, y in loader]
    (3, [(0, 1), (2, 3), (4,)])
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: Optional[int] = None) -> None:
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, "
                             f"got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        # The global generator is looked up per epoch: manual_seed replaces it.
        rng = self._rng if self._rng is not None else default_generator()
        return rng.permutation(n)

    def __iter__(self) -> Iterator[tuple]:
        order = self._order()
        stop = len(self) * self.batch_size
        for start in range(0, min(stop, order.shape[0]), self.batch_size):
            batch = fetch_batch(self.dataset, order[start:start + self.batch_size])
            yield tuple(Tensor._make(np.ascontiguousarray(a)) for a in batch)
