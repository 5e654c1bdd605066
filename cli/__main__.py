"""`python -m cli` is the `maak` command."""

import sys

from cli.main import main

sys.exit(main())
