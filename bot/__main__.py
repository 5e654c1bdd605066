"""`python -m bot` runs the gateway process; `maak run` starts it beside Rasa and the actions."""

import sys

from bot.app import serve
from core.settings import SettingsError, load_settings

try:
    serve(load_settings())
except SettingsError as exc:
    sys.exit(f"maak: {exc}")
