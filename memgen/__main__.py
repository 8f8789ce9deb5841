"""`python -m memgen …` runs the command-line tool (memgen/cli.py)."""

import sys

from memgen.cli import main

sys.exit(main())
