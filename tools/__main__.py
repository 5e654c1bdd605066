"""`python -m tools train|parse|eval`: the model commands, run by Rasa's environment."""

import sys

from tools.model_cli import main

sys.exit(main())
