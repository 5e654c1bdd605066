"""The `maak` command (also `python -m cli`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

from core.settings import PROJECT_ROOT, Settings, SettingsError, keep_files_private, load_settings
from core.store import Store
from handoff.accounts import ROLES, AccountError, add_user, new_password, remove_user
from tools.model_cli import add_model_commands
from tools.supervisor import Service
from tools.training import TrainingFailed


def _services(settings: Settings, model: Path) -> list[Service]:
    from tools.training import rasa_process_environment

    env = rasa_process_environment(settings.rasa_environment())
    # The action server and Rasa listen on the private address only.
    env["SANIC_HOST"] = settings.internal_host
    rasa_python = str(settings.rasa_python)
    # Each process gets only the tokens of its own hops, in its environment (a command line is
    # public to every account on the machine).
    return [
        Service("actions", [rasa_python, "-m", "actions.server", "--port", str(settings.action_port)],
                {**env, **settings.action_server_environment()}),
        Service(
            "rasa",
            [
                rasa_python, "-m", "tools.rasa_server", "run",
                "--model", str(model),
                "--enable-api",
                "--interface", settings.internal_host,
                "--port", str(settings.rasa_port),
                "--endpoints", "endpoints.yml",
                "--credentials", "credentials.yml",
                # Rasa's INFO and DEBUG logs may carry message texts: warnings and errors only.
                "--quiet",
            ],
            {**env, **settings.rasa_server_environment()},
        ),  # fmt: skip
        Service("gateway", [sys.executable, "-m", "bot"], env),
    ]


# An older Maak kept the demo password here; it is shown one last time, then removed.
_OLD_DEMO_FILE = "demo-login.txt"


def demo_login(settings: Settings) -> tuple[str, str | None] | None:
    """On the embedded defaults, a demo counsellor account made at the first start, so the console
    can be tried: its name, and its password the one time it is made (it is kept nowhere)."""
    if settings.database_url:
        return None
    old = settings.var_dir / _OLD_DEMO_FILE
    if old.exists():
        username, password = old.read_text().split()[:2]
        old.unlink()
        return username, password
    store = Store(settings.store_url)
    try:
        store.migrate()
        if store.get_user("demo") is not None:
            return "demo", None
        password = new_password()
        add_user(store, "demo", "counsellor", password)
        return "demo", password
    finally:
        store.dispose()


async def _announce_when_ready(settings: Settings, login: tuple[str, str | None] | None) -> None:
    import aiohttp

    from tools.supervisor import say

    url = f"http://localhost:{settings.port}"
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{settings.port}/health") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(1)
    say(f"ready — the chat: {url}/chat")
    if login and login[1]:
        say(f"demo counsellor account: {login[0]} / {login[1]} — shown this once and kept nowhere: note it now")
    elif login:
        say(f"demo counsellor account: {login[0]} (password shown at the first start; for a new one: "
            f".venv/bin/maak user remove {login[0]}, then start again)")
    say("Ctrl-C stops everything")


class DataFileError(ValueError):
    """A data file an operator edits is not valid; the message names the file and the entry."""


def check_data_files() -> None:
    """Load and validate every operator-edited file before anything starts."""
    from bot.texts import default_texts
    from facts import default_facts
    from nlu import commands, langid, places, urgency, violence_types

    loaders = (
        default_facts,
        places.default_places,
        default_texts,
        urgency.default_model,
        commands.default_lexicon,
        violence_types.default_lexicon,
        langid.default_markers,
    )
    try:
        for load in loaders:
            load()
    except ValueError as exc:
        raise DataFileError(str(exc)) from exc


def cmd_run(args: argparse.Namespace) -> int:
    from tools.supervisor import Supervisor
    from tools.training import ensure_model_from_gateway

    if args.port:
        # The gateway child reads its port from the environment like every other setting.
        os.environ["MAAK_PORT"] = str(args.port)
    settings = load_settings()
    check_data_files()
    settings.var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    model = ensure_model_from_gateway(_rasa_python(settings), settings.models_dir)
    login = demo_login(settings)
    supervisor = Supervisor(_services(settings, model))
    asyncio.run(supervisor.run(lambda: _announce_when_ready(settings, login)))
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    from bot.app import serve

    serve(load_settings())
    return 0


def cmd_shell(args: argparse.Namespace) -> int:
    from tools.shell import shell

    return asyncio.run(shell(args.url))


def cmd_user_add(args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\n")
    return _change_accounts(
        lambda store: add_user(store, args.name, args.role, password), f"account {args.name!r} ({args.role}) created"
    )


def cmd_user_remove(args: argparse.Namespace) -> int:
    return _change_accounts(
        lambda store: remove_user(store, args.name),
        f"account {args.name!r} removed; its open consoles close within seconds",
    )


def cmd_user_list(args: argparse.Namespace) -> int:
    store = Store(load_settings().store_url)
    store.migrate()
    try:
        accounts = store.list_users(ROLES)
    finally:
        store.dispose()
    for account in accounts:
        seen = account["seen_at"]
        print(f"{account['username']}\t{account['role']}\t{seen.isoformat(timespec='seconds') if seen else '-'}")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from core.key_rotation import rotate
    from core.privacy import Cipher
    from core.store import create_store_engine

    settings = load_settings()
    store = Store(settings.store_url)
    store.migrate()
    tracker = store.engine if settings.tracker_url == settings.store_url else create_store_engine(settings.tracker_url)
    try:
        result = rotate(store.engine, tracker, Cipher(settings.data_key))
    finally:
        if tracker is not store.engine:
            tracker.dispose()
        store.dispose()
    print(json.dumps({"rewritten": result.rewritten, "unreadable": result.unreadable}))
    if any(result.unreadable.values()):
        print("maak: some stored texts could not be decrypted with any key of MAAK_DATA_KEY: keep the old key "
              "until they are found", file=sys.stderr)
        return 2
    return 0


def _change_accounts(change: Callable[[Store], None], done: str) -> int:
    """Run one account change on the configured store; exit code 2 with the reason if refused."""
    store = Store(load_settings().store_url)
    store.migrate()
    try:
        change(store)
    except AccountError as exc:
        print(f"maak: {exc}", file=sys.stderr)
        return 2
    finally:
        store.dispose()
    print(f"maak: {done}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from tools.bench import bench

    password = args.password
    if args.url and (args.handoff or args.urgent_file or args.flood) and password is None:
        # Like `maak user add`: a password on the command line would show in `ps`.
        password = sys.stdin.readline().rstrip("\n")
    return bench(
        handoff=args.handoff,
        conversations=args.conversations,
        messages=args.messages,
        url=args.url,
        username=args.username,
        password=password,
        urgent_file=args.urgent_file,
        flood=args.flood,
    )


def cmd_telegram_set_webhook(args: argparse.Namespace) -> int:
    from channels.base import ChannelError, InboundMessage
    from channels.telegram import TelegramChannel, secret_token_problem, webhook_url_problem

    telegram = load_settings().telegram
    if telegram is None:
        print("maak: Telegram is not configured: set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET", file=sys.stderr)
        return 2
    problem = webhook_url_problem(args.url) or secret_token_problem(telegram.webhook_secret)
    if problem:
        print(f"maak: {problem}", file=sys.stderr)
        return 2

    async def ignore(message: InboundMessage) -> None:
        """This process registers the webhook only; the gateway receives the messages."""

    async def register() -> None:
        channel = TelegramChannel(telegram, ignore)
        await channel.start()
        try:
            await channel.set_webhook(args.url)
        finally:
            await channel.close()

    try:
        asyncio.run(register())
    except ChannelError as exc:
        print(f"maak: Telegram did not accept the webhook: {exc}", file=sys.stderr)
        return 1
    print(f"maak: Telegram will post updates to {args.url}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maak", description="Maak — معك — with you.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="train if needed, then start Rasa, the actions and the gateway")
    run.add_argument("--port", type=int, help="gateway port (default MAAK_PORT or 8080)")
    run.set_defaults(func=cmd_run)

    gateway = commands.add_parser("gateway", help="the gateway process alone (maak run starts it)")
    gateway.set_defaults(func=cmd_gateway)

    add_model_commands(commands, run=_in_rasa_environment)

    shell_cmd = commands.add_parser("shell", help="talk to a running Maak in the terminal")
    shell_cmd.add_argument("--url", default="http://localhost:8080", help="where Maak runs")
    shell_cmd.set_defaults(func=cmd_shell)

    bench = commands.add_parser("bench", help="load benchmark through the whole stack; prints a JSON report")
    bench.add_argument("--handoff", action="store_true", help="time urgent message → case on the console")
    bench.add_argument("--conversations", type=int, help="conversations at once (default 50 with --handoff, else 20)")
    bench.add_argument("--messages", type=int,
                       help="messages per conversation (default 5); with --flood, on the flooding socket (default 1500)")
    bench.add_argument("--url", help="a running Maak (default: start one as `maak run` would)")
    bench.add_argument("--urgent-file", type=Path, metavar="FILE.tsv",
                       help="each urgent message of a labelled set on its own web chat: case opened at once, "
                            "one tap away (the safety question), or missed")
    bench.add_argument("--flood", action="store_true",
                       help="one address floods the web chat (--messages of 60 KB on one socket, --conversations "
                            "urgent ones at once): the gateway's peak memory, what one case keeps, a woman's replies")
    bench.add_argument("--username", help="with --url --handoff, --urgent-file or --flood: a counsellor account")
    bench.add_argument("--password", help="its password (default: read from stdin)")
    bench.set_defaults(func=cmd_bench)

    telegram = commands.add_parser("telegram", help="Telegram bot set-up").add_subparsers(
        dest="telegram_command", required=True
    )
    set_webhook = telegram.add_parser("set-webhook", help="register URL (https) as the bot's webhook, with the secret")
    set_webhook.add_argument("url", metavar="URL", help="e.g. https://maak.example.org/webhooks/telegram")
    set_webhook.set_defaults(func=cmd_telegram_set_webhook)

    user = commands.add_parser("user", help="accounts").add_subparsers(dest="user_command", required=True)
    user_add = user.add_parser("add", help="create an account; the password is read from stdin")
    user_add.add_argument("name")
    user_add.add_argument("--role", required=True, choices=ROLES)
    user_add.set_defaults(func=cmd_user_add)
    user_remove = user.add_parser("remove", help="remove an account and end its sessions")
    user_remove.add_argument("name")
    user_remove.set_defaults(func=cmd_user_remove)
    user_list = user.add_parser("list", help="the accounts: name, role, when a console of theirs was last open")
    user_list.set_defaults(func=cmd_user_list)

    keys = commands.add_parser("keys", help="the data key").add_subparsers(dest="keys_command", required=True)
    keys_rotate = keys.add_parser(
        "rotate", help="re-encrypt everything stored with the first key of MAAK_DATA_KEY (online; JSON counts)"
    )
    keys_rotate.set_defaults(func=cmd_keys_rotate)
    return parser


def _rasa_python(settings: Settings) -> Path:
    """The Python of Rasa's environment, which must exist before anything is started there."""
    if not settings.rasa_python.exists():
        raise SettingsError(f"Rasa's environment is missing ({settings.rasa_python}): run `make setup`")
    return settings.rasa_python


def _in_rasa_environment(args: argparse.Namespace) -> int:
    """`maak train`, `parse` and `eval` run in Rasa's environment, with her stdin and stdout."""
    from tools.training import rasa_process_environment

    rasa_python = _rasa_python(load_settings())
    return subprocess.call([str(rasa_python), "-m", "tools", *args.argv], cwd=PROJECT_ROOT, env=rasa_process_environment())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.argv = argv
    sys.path.insert(0, str(PROJECT_ROOT))
    keep_files_private()  # before anything is written: keys, databases, models
    try:
        code: int = args.func(args)
        return code
    except (SettingsError, DataFileError, TrainingFailed) as exc:
        print(f"maak: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
