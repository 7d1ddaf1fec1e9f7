"""Evaluation: attacks, analysis of results files, falsification of certificates."""
