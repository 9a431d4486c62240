"""Specimen segment service: segmentation algorithms and the per-user image library."""
