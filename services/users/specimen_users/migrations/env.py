"""Alembic environment of the users service (the URL comes from the configuration built in code)."""

from specimen_kit.database import run_migrations
from specimen_users.adapters.models import Base

run_migrations(Base.metadata)
