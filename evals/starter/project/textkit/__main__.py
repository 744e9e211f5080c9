"""``python -m textkit FILE``: print a summary of a text file."""

from textkit.cli import main

raise SystemExit(main())
