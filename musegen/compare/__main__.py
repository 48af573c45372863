"""``python -m musegen.compare``: see ``musegen.compare.main``."""

from musegen.compare.main import main

raise SystemExit(main())
