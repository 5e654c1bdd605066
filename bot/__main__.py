"""`python -m bot` runs the gateway process; `maak run` starts it beside Rasa and the actions."""

import sys

from bot.app import serve
from core.settings import SettingsError, keep_files_private, load_settings

keep_files_private()
try:
    serve(load_settings())
except SettingsError as exc:
    sys.exit(f"maak: {exc}")
