"""Alembic environment of the classify service (the URL comes from the configuration built in code)."""

from specimen_classify.adapters.tables import Base
from specimen_kit.database import run_migrations

run_migrations(Base.metadata)
