"""Segmentation algorithms as pure functions on arrays; no web framework, no database."""
