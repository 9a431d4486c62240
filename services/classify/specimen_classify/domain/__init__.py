"""Preprocessing, model cards and classification rules; no web framework, no database."""
