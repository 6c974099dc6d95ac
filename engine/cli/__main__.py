"""`python -m engine.cli` runs the command line."""

import sys

from engine.cli.commands import main

sys.exit(main())
