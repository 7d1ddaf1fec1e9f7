"""Training classifiers under smoothing noise."""
