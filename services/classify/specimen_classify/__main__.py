"""``python -m specimen_classify generate mri|plankton``."""

from specimen_classify.cli import main

raise SystemExit(main())
