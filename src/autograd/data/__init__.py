"""Data: datasets, batching, synthetic problems, transforms and PCA.

>>> import numpy as np, autograd as ag
>>> X, y = ag.data.make_xor()
>>> [b[1].tolist() for b in ag.data.DataLoader(ag.data.TensorDataset(X, y), batch_size=2)]
[[0, 1], [1, 0]]
"""
from . import datasets, synthetic, transforms
from ._files import DatasetIntegrityError, DatasetNotFoundError
from .dataloader import DataLoader
from .dataset import Dataset, NotFittedError, Subset, TensorDataset
from .pca import PCA
from .synthetic import make_blobs, make_linear, make_moons, make_spirals, make_xor

__all__ = ["Dataset", "TensorDataset", "Subset", "DataLoader", "datasets", "transforms",
           "synthetic", "PCA", "make_linear", "make_xor", "make_spirals", "make_moons",
           "make_blobs", "DatasetNotFoundError", "DatasetIntegrityError", "NotFittedError"]
