"""Database, blob store and image codecs."""
