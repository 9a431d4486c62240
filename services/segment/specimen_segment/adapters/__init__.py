"""Database and blob store."""
