"""`maak shell` talks to a running Maak in the terminal."""

from __future__ import annotations

import subprocess
import sys

from core.settings import PROJECT_ROOT
from tests.support.expect import response_template


def test_shell_conversation_with_numbered_buttons(stack):
    result = subprocess.run(
        [sys.executable, "-m", "cli", "shell", "--url", stack.url],
        input="salut, bonsoir\n6\n".encode(),
        capture_output=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert response_template("utter_greet", "fr").splitlines()[0] in out
    # Button 6 of the menu is the emergency numbers.
    assert "8350" in out


def test_shell_says_when_nothing_runs():
    result = subprocess.run(
        [sys.executable, "-m", "cli", "shell", "--url", "http://127.0.0.1:9"],
        input=b"",
        capture_output=True,
        cwd=PROJECT_ROOT,
        timeout=60,
    )
    assert result.returncode == 2 and b"maak run" in result.stderr
