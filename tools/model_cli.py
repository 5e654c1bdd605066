"""The `maak` commands that need Rasa — `train`, `parse`, `eval` — which run in Rasa's environment
(`python -m tools …`); the gateway's `maak` hands them over (`cli.main`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

from core.settings import SettingsError, load_settings


def cmd_train(args: argparse.Namespace) -> int:
    from tools.training import ensure_model

    print(ensure_model(load_settings().models_dir, force=args.force, quiet=args.quiet))
    return 0


def cmd_parse(args: argparse.Namespace) -> int:
    from tools.parse import parse_stream

    # TensorFlow, Rasa and their dependencies warn about their own internals; stdout stays JSON only.
    warnings.simplefilter("ignore")
    return asyncio.run(parse_stream(load_settings(), args.model, sys.stdin.buffer, sys.stdout))


def cmd_eval(args: argparse.Namespace) -> int:
    from tools.evaluate import run_eval

    # TensorFlow, Rasa and their dependencies warn about their own internals; stdout stays the report.
    warnings.simplefilter("ignore")
    return asyncio.run(run_eval(load_settings(), args.files, args.model, sys.stdout, as_json=args.json, plot=args.plot))


def add_model_commands(commands: Any, run: Callable[[argparse.Namespace], int] | None = None) -> None:
    """The three commands' arguments, on `commands` (an argparse subparsers object); `run`, when
    given, replaces what each command does (the gateway's `maak` hands them over)."""
    train = commands.add_parser("train", help="train the models into models/ and nlu/")
    train.add_argument("--force", action="store_true", help="train even if a model matches the data")
    train.add_argument("--quiet", action="store_true", help="only errors")
    train.set_defaults(func=run or cmd_train)

    parse = commands.add_parser("parse", help="stdin lines → JSON lines of intent, language, urgency")
    parse.add_argument("--model", type=Path, help="model file (default: the newest in models/)")
    parse.set_defaults(func=run or cmd_parse)

    evaluate = commands.add_parser("eval", help="intent, language and urgency scores on a labelled TSV file")
    evaluate.add_argument(
        "files", type=Path, nargs="+", metavar="FILE.tsv", help="TSV with a header: text, intent, lang, urgent (or text, lang)"
    )
    evaluate.add_argument("--model", type=Path, help="model file (default: the newest in models/)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON document instead of the report")
    evaluate.add_argument("--plot", type=Path, metavar="FILE.png", help="also draw the scores and confusion matrix")
    evaluate.set_defaults(func=run or cmd_eval)


def main(argv: list[str] | None = None) -> int:
    from tools.training import TrainingFailed

    parser = argparse.ArgumentParser(prog="maak", description="Maak's model commands, in Rasa's environment.")
    add_model_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except (SettingsError, TrainingFailed) as exc:
        print(f"maak: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, SettingsError) else 1
    except KeyboardInterrupt:
        return 130
