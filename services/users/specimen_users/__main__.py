"""``python -m specimen_users migrate``."""

from specimen_users.cli import main

raise SystemExit(main())
