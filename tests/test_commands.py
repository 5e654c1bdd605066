"""Whole-message commands honoured by the gateway without the NLU."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu.commands import COMMANDS, CommandLexicon, command, opens_with_erase


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # stop
        ("stop", "stop"),
        ("STOP!!", "stop"),
        ("/stop", "stop"),
        ("khlas", "stop"),
        ("5las", "stop"),
        ("خلاص", "stop"),
        ("arrête", "stop"),
        ("Arrête svp", "stop"),
        ("please stop", "stop"),
        ("توقف", "stop"),
        # forget_me
        ("/forget", "forget_me"),
        ("/forget_me", "forget_me"),
        ("forget me", "forget_me"),
        ("m7i kolchi", "forget_me"),
        ("m7i koulchi", "forget_me"),
        ("supprime mes données", "forget_me"),
        ("Oubliez-moi", "forget_me"),
        ("امسح كلشي", "forget_me"),
        ("احذف بياناتي", "forget_me"),
        # ask_emergency_numbers
        ("numbers", "ask_emergency_numbers"),
        ("/numbers", "ask_emergency_numbers"),
        ("les numéros", "ask_emergency_numbers"),
        ("nmar", "ask_emergency_numbers"),
        ("الأرقام", "ask_emergency_numbers"),
        ("الأرقام عافاك", "ask_emergency_numbers"),
        ("emergency numbers please", "ask_emergency_numbers"),
    ],
)
def test_commands(text: str, expected: str) -> None:
    assert command(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "stop hitting me",
        "he won't stop",
        "les numéros de l'ANAPEC ?",
        "je veux supprimer mes données mais avant j'ai une question",
        "safi",  # also "ok": must not end a live conversation
        "ok",
        "bye",
        "19",
        "fin",  # Darija "where"
        "svp",
        "عافاك",
        "خلاص كيضربني",
        "stop " * 10,
    ],
)
def test_not_commands(text: str) -> None:
    assert command(text) is None


def test_commands_lexicon_names_every_command() -> None:
    lexicon = CommandLexicon.load()
    assert {lexicon.command(p) for p in ("stop", "forget me", "numbers")} == set(COMMANDS)


def test_a_phrase_under_two_commands_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "commands.yml"
    path.write_text(
        "commands:\n  stop: [stop]\n  forget_me: [stop]\n  ask_emergency_numbers: [numbers]\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match="stop"):
        CommandLexicon.load(path)


def test_unknown_command_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "commands.yml"
    path.write_text(
        "commands:\n  stop: [stop]\n  forget_me: [x]\n  ask_emergency_numbers: [y]\n  dance: [z]\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match="dance"):
        CommandLexicon.load(path)


@pytest.mark.parametrize(
    ("text", "opens"),
    [
        ("امسح كلشي راه يقدر يقلب التيليفون ملي يرجع", True),
        ("عافاك مسح الهضرة ديالنا خويا كيشوف", True),
        ("3afak m7i kolchi daba", True),
        ("احذفوا المحادثة فورا", True),
        ("supprimez tout il arrive", True),
        ("delete this he is here", True),
        ("he deleted my photos and took my phone", False),  # not her request
        ("حيد عليا راه كيخنقني", False),  # "get off me": not an erase
        ("il a supprimé mon compte", False),
        ("", False),
    ],
)
def test_a_message_that_opens_by_asking_to_erase(text: str, opens: bool) -> None:
    assert opens_with_erase(text) is opens
