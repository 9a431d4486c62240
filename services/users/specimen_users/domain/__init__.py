"""Pure rules of the users service: accounts, access policy, passwords and tokens.

Nothing here imports FastAPI or SQLAlchemy (an import-linter contract keeps it so); storage,
hashing and signing are reached through the protocols in :mod:`specimen_users.domain.ports`.
"""
