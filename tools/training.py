"""Training the Rasa model, cached by a hash of everything that shapes it.

Training runs in Rasa's environment (Rasa and scikit-learn live there); the gateway's environment
checks whether the model matches the data and, when it does not, has `maak train` run there.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.settings import PROJECT_ROOT

# What a trained model depends on: Rasa's configuration, the training data, what chooses the kinds
# rows Rasa learns (`nlu/training.py`), and what shapes the features (the tokenizer's
# normalisation and the word lists it reads). The lexicons, the
# danger-now classifier and the dialect model (`nlu/*.npz`, trained by `ensure_own_models`) and
# the language identifier act only when a message is parsed, so editing them needs no new model.
TRAINING_INPUTS = (
    "config.yml",
    "domain.yml",
    "nlu/data",
    "nlu/components.py",
    "nlu/training.py",
    "nlu/normalise.py",
    "nlu/lexicon/language_markers.yml",
    "bot/dialogue",
)
TRAINING_DATA = ("nlu/data", "bot/dialogue")
# The rows of nlu/data/kinds/*.tsv, written as Rasa training data for the intent classifier.
KINDS_EXPORT = Path(".rasa") / "maak" / "kinds.yml"
MODEL_PREFIX = "maak-"


class TrainingFailed(RuntimeError):
    """`rasa train` did not produce a model."""


def data_hash(root: Path = PROJECT_ROOT) -> str:
    """A digest of every training input; any change to one gives a new model name."""
    digest = hashlib.sha256()
    for name in TRAINING_INPUTS:
        path = root / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml", ".py", ".tsv"))
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def model_for_data(models_dir: Path, root: Path = PROJECT_ROOT) -> Path:
    return models_dir / f"{MODEL_PREFIX}{data_hash(root)}.tar.gz"


def latest_model(models_dir: Path) -> Path | None:
    models = sorted(models_dir.glob(f"{MODEL_PREFIX}*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def rasa_process_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a Rasa subprocess: the project importable, no telemetry, quiet TensorFlow."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    env.update(extra or {})
    return env


def own_models_current() -> bool:
    from nlu import training as nlu_training

    examples = nlu_training.all_examples()
    return nlu_training.urgency_is_current(examples) and nlu_training.dialect_is_current(examples)


def ensure_model_from_gateway(rasa_python: Path, models_dir: Path, force: bool = False, quiet: bool = False) -> Path:
    """`ensure_model` from the gateway's environment: the model for the current data, trained by
    `maak train` in Rasa's environment when there is none."""
    target = model_for_data(models_dir)
    if not force and target.exists() and own_models_current():
        return target
    if not rasa_python.exists():
        raise TrainingFailed(f"Rasa's environment is missing ({rasa_python}): run `make setup`")
    command = [str(rasa_python), "-m", "tools", "train", *(["--force"] if force else []), *(["--quiet"] if quiet else [])]
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=rasa_process_environment(), stdout=subprocess.PIPE, text=True)
    if done.returncode != 0 or not target.exists():
        raise TrainingFailed(f"maak train failed in Rasa's environment (exit code {done.returncode})")
    return target


def ensure_own_models(force: bool = False, quiet: bool = False) -> None:
    """The danger-now classifier (`nlu/urgency.npz`) and the dialect model (`nlu/dialect.npz`),
    each trained again when its data changed."""
    from nlu import training as nlu_training

    def say(text: str) -> None:
        if not quiet:
            print(f"maak: {text}", file=sys.stderr)

    examples = nlu_training.all_examples()  # read once, for both checks and both trainings
    if force or not nlu_training.urgency_is_current(examples):
        started = time.monotonic()
        say("training the danger-now classifier…")
        limits = nlu_training.train_urgency(examples).thresholds
        say(f"danger-now classifier trained in {time.monotonic() - started:.0f} s "
            f"(thresholds {limits.urgent:.2f}, now {limits.now:.2f}, harm {limits.harm:.2f})")
    if force or not nlu_training.dialect_is_current(examples):
        started = time.monotonic()
        nlu_training.train_dialect(examples)
        say(f"dialect model trained in {time.monotonic() - started:.0f} s")


def ensure_model(models_dir: Path, force: bool = False, quiet: bool = False) -> Path:
    """The model matching the current data, trained first if there is none.

    Rasa's training and Maak's own models run side by side: neither reads the other's output
    (the danger-now and dialect models act only when a message is parsed), and Rasa leaves part
    of a second core idle.
    """
    from nlu.training import write_rasa_examples

    target = model_for_data(models_dir)
    if target.exists() and not force:
        ensure_own_models(force=force, quiet=quiet)
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    write_rasa_examples(PROJECT_ROOT / KINDS_EXPORT)
    started = time.monotonic()
    print(f"maak: training the model ({target.name}); this takes a few minutes…", file=sys.stderr)
    command = [
        sys.executable, "-m", "rasa", "train",
        # `maak validate` and the tests check the data; here it would only add 20 s to every training.
        "--skip-validation",
        "--config", "config.yml",
        "--domain", "domain.yml",
        "--data", *TRAINING_DATA, str(KINDS_EXPORT),
        "--out", str(models_dir),
        "--fixed-model-name", target.name[: -len(".tar.gz")],
    ]  # fmt: skip
    # A file, not a pipe, for a quiet run's errors: nothing reads a pipe while the own models train.
    with tempfile.TemporaryFile("w+", encoding="utf-8") as errors:
        rasa = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=rasa_process_environment(),
            stdout=subprocess.DEVNULL if quiet else None,
            stderr=errors if quiet else None,
            text=True,
        )
        try:
            ensure_own_models(force=force, quiet=quiet)
            returncode = rasa.wait()
        finally:
            if rasa.poll() is None:
                rasa.kill()
                rasa.wait()
        errors.seek(0)
        detail = errors.read()[-2000:]
    if returncode != 0 or not target.exists():
        raise TrainingFailed(f"rasa train failed (exit code {returncode}){': ' + detail if detail else ''}")
    print(f"maak: model trained in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return target
