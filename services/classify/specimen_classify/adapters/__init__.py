"""Database, model store and model runtimes."""
