"""``python -m helpers ...`` runs the command-line interface (see helpers.cli)."""

from helpers.cli import main

raise SystemExit(main())
