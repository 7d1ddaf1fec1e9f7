"""Datasets, the CIFAR-10-C layout and the corruptions."""
