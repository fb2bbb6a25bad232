"""Synthetic clusters whose numbers follow published sidecar figures, with ground truth for tests."""
