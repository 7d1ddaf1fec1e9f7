"""Datasets, the CIFAR-10-C layout and the corruptions.

``get_dataset(name)`` and ``list_datasets()`` see every dataset registered through the
``register_datasets`` hook: the built-ins (MNIST, Fashion-MNIST, CIFAR-10/100, the embedded
Fashion-MNIST sample, registered by ``gsmooth.data._plugin``) and any plugin's;
``load_dataset(name, split=…)`` loads one.
"""

from .datasets import (
    DatasetFormatError,
    DatasetInfo,
    DatasetSpec,
    ImageTensorDataset,
    dataset_info,
    get_dataset,
    list_datasets,
    load_dataset,
)

__all__ = [
    "DatasetFormatError",
    "DatasetInfo",
    "DatasetSpec",
    "ImageTensorDataset",
    "dataset_info",
    "get_dataset",
    "list_datasets",
    "load_dataset",
]
