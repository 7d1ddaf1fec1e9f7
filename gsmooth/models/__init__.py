"""Classifier architectures."""
