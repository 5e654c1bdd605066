"""Training, as `maak train` runs it in Rasa's environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import training


def test_a_failed_training_says_so_and_leaves_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Rasa's training runs as a child process beside Maak's own models; make it fail at once.
    monkeypatch.setattr(training.sys, "executable", "/bin/false")
    with pytest.raises(training.TrainingFailed, match="exit code 1"):
        training.ensure_model(tmp_path / "models", quiet=True)
    assert not list((tmp_path / "models").glob("*.tar.gz"))
