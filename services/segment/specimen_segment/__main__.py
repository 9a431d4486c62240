"""``python -m specimen_segment migrate | sweep-orphans``."""

from specimen_segment.cli import main

raise SystemExit(main())
