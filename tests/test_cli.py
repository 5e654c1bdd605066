"""The `maak` command: parse, user add and remove, settings and data-file errors, as an operator meets them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from cli.main import demo_login
from core.settings import PROJECT_ROOT, SettingsError, load_settings, write_private
from core.store import Store
from handoff.accounts import check_password

# Each test runs `maak` as a process.
pytestmark = pytest.mark.stack


def maak(*args: str, stdin: bytes = b"", env: dict[str, str] | None = None, cwd: Path = PROJECT_ROOT):
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_parse_prints_one_json_object_per_line(model: Path):
    lines = [
        "rajli kaydrebni daba w 3ndo mos",
        "je cherche une formation en couture a Fes",
        "",
        "\xff\xfe not utf-8",
        "بغيت نخدم فكازا",
        "someone is coming, I have to stop",
    ]
    stdin = b"\n".join(line.encode("latin-1") if line.startswith("\xff") else line.encode() for line in lines) + b"\n"
    result = maak("parse", "--model", str(model), stdin=stdin)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    out = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(out) == len(lines)
    assert all(set(o) == {"text", "intent", "confidence", "lang", "urgent", "entities", "quick_exit"} for o in out)
    assert out[0]["urgent"] and out[0]["intent"] == "immediate_danger" and out[0]["lang"] == "ary-Latn"
    assert out[1]["intent"] == "seek_training" and out[1]["lang"] == "fr" and not out[1]["urgent"]
    assert {"entity": "region", "value": "FMK"} in out[1]["entities"]
    assert out[2]["intent"] is None
    assert out[4]["lang"] == "ary" and {"entity": "region", "value": "CST"} in out[4]["entities"]
    assert [o["quick_exit"] for o in out] == [False] * 5 + [True]


def test_user_add_hashes_the_password(tmp_path: Path):
    env = {"MAAK_VAR_DIR": str(tmp_path), "MAAK_SECRET": "s", "MAAK_DATA_KEY": "k"}
    ok = maak("user", "add", "amina", "--role", "counsellor", stdin=b"a long enough secret\n", env=env)
    assert ok.returncode == 0, ok.stderr.decode()
    again = maak("user", "add", "amina", "--role", "counsellor", stdin=b"a long enough secret\n", env=env)
    assert again.returncode == 2 and b"already exists" in again.stderr
    short = maak("user", "add", "salma", "--role", "supervisor", stdin=b"short\n", env=env)
    assert short.returncode == 2 and b"at least" in short.stderr
    user = Store(f"sqlite:///{tmp_path / 'maak.db'}").get_user("amina")
    assert user["role"] == "counsellor" and user["password_hash"].startswith("$argon2")


def test_user_remove_takes_the_account_and_its_sessions(tmp_path: Path):
    env = {"MAAK_VAR_DIR": str(tmp_path), "MAAK_SECRET": "s", "MAAK_DATA_KEY": "k"}
    assert maak("user", "add", "amina", "--role", "counsellor", stdin=b"a long enough secret\n", env=env).returncode == 0
    store = Store(f"sqlite:///{tmp_path / 'maak.db'}")
    store.add_session("hash-of-her-cookie", "amina", "csrf", timedelta(hours=1))
    done = maak("user", "remove", "amina", env=env)
    assert done.returncode == 0 and b"removed" in done.stdout, done.stderr.decode()
    assert store.get_user("amina") is None and store.get_session("hash-of-her-cookie") is None
    again = maak("user", "remove", "amina", env=env)
    assert again.returncode == 2 and b"no account named 'amina'" in again.stderr


def test_user_list_shows_names_and_roles_never_passwords(tmp_path: Path):
    env = {"MAAK_VAR_DIR": str(tmp_path), "MAAK_SECRET": "s", "MAAK_DATA_KEY": "k"}
    for name, role in (("salma", "supervisor"), ("amina", "counsellor")):
        assert maak("user", "add", name, "--role", role, stdin=b"a long enough secret\n", env=env).returncode == 0
    listed = maak("user", "list", env=env)
    assert listed.returncode == 0, listed.stderr.decode()
    assert listed.stdout.decode().splitlines() == ["amina\tcounsellor\t-", "salma\tsupervisor\t-"]


def test_bad_settings_are_named():
    with pytest.raises(SettingsError, match="MAAK_PORT"):
        load_settings({"MAAK_PORT": "eighty", "MAAK_SECRET": "s", "MAAK_DATA_KEY": "k"})
    with pytest.raises(SettingsError, match="MAAK_RETENTION_DAYS"):
        load_settings({"MAAK_RETENTION_DAYS": "0", "MAAK_SECRET": "s", "MAAK_DATA_KEY": "k"})


def test_keys_are_generated_once_with_a_warning(tmp_path: Path, caplog):
    var_dir = tmp_path / "var"
    previous = os.umask(0o022)  # an operator's usual umask: the keys must not depend on it
    try:
        first = load_settings({"MAAK_VAR_DIR": str(var_dir)})
    finally:
        os.umask(previous)
    assert "MAAK_SECRET is not set" in caplog.text
    second = load_settings({"MAAK_VAR_DIR": str(var_dir)})
    assert first.secret == second.secret and first.data_key == second.data_key
    assert (var_dir / "secret.key").stat().st_mode & 0o777 == 0o600
    assert var_dir.stat().st_mode & 0o777 == 0o700


def test_a_private_file_is_never_overwritten(tmp_path: Path):
    write_private(tmp_path / "secret.key", b"first key\n")
    with pytest.raises(FileExistsError):
        write_private(tmp_path / "secret.key", b"other\n")
    assert (tmp_path / "secret.key").read_bytes() == b"first key\n"


def test_the_demo_password_is_shown_once_and_kept_nowhere(tmp_path: Path):
    settings = load_settings({"MAAK_VAR_DIR": str(tmp_path / "var"), "MAAK_SECRET": "s", "MAAK_DATA_KEY": "k"})
    settings.var_dir.mkdir(mode=0o700)
    name, password = demo_login(settings)
    assert name == "demo" and password
    store = Store(settings.store_url)
    try:
        assert check_password(store, "demo", password) is not None
    finally:
        store.dispose()
    assert demo_login(settings) == ("demo", None)  # the next start knows the account, not its password
    kept = b"".join(path.read_bytes() for path in settings.var_dir.rglob("*") if path.is_file())
    assert password.encode() not in kept
    # On PostgreSQL (a real deployment), no demo account at all.
    assert demo_login(replace(settings, database_url="postgresql://nowhere/none")) is None


def test_a_demo_password_kept_by_an_older_maak_is_shown_one_last_time_and_removed(tmp_path: Path):
    settings = load_settings({"MAAK_VAR_DIR": str(tmp_path), "MAAK_SECRET": "s", "MAAK_DATA_KEY": "k"})
    write_private(tmp_path / "demo-login.txt", b"demo old-password\n")
    assert demo_login(settings) == ("demo", "old-password")
    assert not (tmp_path / "demo-login.txt").exists()


def test_run_refuses_a_broken_data_file_and_names_it(tmp_path: Path):
    copy = tmp_path / "maak"
    shutil.copytree(PROJECT_ROOT, copy, ignore=shutil.ignore_patterns(".venv", "models", ".rasa", "var", ".git", "tests"))
    services = copy / "facts" / "services.yml"
    services.write_text(services.read_text(encoding="utf-8").replace("region: FMK", "region: FMX", 1), encoding="utf-8")
    result = maak("run", env={"MAAK_VAR_DIR": str(tmp_path / "var"), "PYTHONPATH": str(copy)}, cwd=copy)
    assert result.returncode == 2
    assert b"services.yml" in result.stderr and b"FMX" in result.stderr


def test_model_commands_without_rasas_environment_say_how_to_make_it(tmp_path: Path):
    # Rasa, the action server and `maak train`, `parse` and `eval` run in Rasa's environment;
    # without it nothing starts, and the command says what to do.
    env = {"MAAK_RASA_PYTHON": str(tmp_path / "missing" / "python"), "MAAK_VAR_DIR": str(tmp_path)}
    for command in (["run"], ["train"], ["parse"], ["eval", "x.tsv"]):
        result = maak(*command, env=env)
        assert result.returncode == 2 and b"make setup" in result.stderr, result.stderr
