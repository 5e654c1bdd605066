"""`python -m bot` is the `maak` command."""

import sys

from bot.cli import main

sys.exit(main())
