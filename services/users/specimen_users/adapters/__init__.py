"""Storage, hashing, keys and signing behind the domain's protocols."""
