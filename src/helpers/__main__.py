"""``python -m helpers ...`` runs the command-line interface (see helpers.cli)."""

from .cli import main

raise SystemExit(main())
