"""Violence types named in a message (values of the violence_type entity)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu.violence_types import VIOLENCE_TYPES, ViolenceTypesLexicon, violence_types

LEXICON = ViolenceTypesLexicon.load()
EXAMPLES = [(vtype, example) for vtype in VIOLENCE_TYPES for example in LEXICON.examples[vtype]]


@pytest.mark.parametrize(("vtype", "text"), EXAMPLES, ids=[f"{t}-{i}" for i, (t, _) in enumerate(EXAMPLES)])
def test_lexicon_examples(vtype: str, text: str) -> None:
    assert vtype in violence_types(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("il me frappe", ["physical"]),
        ("kaydrebni", ["physical"]),
        ("زوجي يضربني", ["physical"]),
        ("he raped me", ["sexual"]),
        ("t7rrach biya f zn9a", ["sexual"]),
        ("تعرضت للاغتصاب", ["sexual"]),
        ("il m'insulte et me rabaisse", ["psychological"]),
        ("كيسبني قدام الناس", ["psychological"]),
        ("rajli ma kay3tinich flous", ["economic"]),
        ("my husband takes my salary", ["economic"]),
        ("il publie mes photos sur facebook", ["digital"]),
        ("kaybtazni b tsawer dyali", ["digital"]),
        ("ينشر صوري", ["digital"]),
        ("mariage forcé", ["forced_marriage"]),
        ("bghaw yzawjouni b zzez", ["forced_marriage"]),
        ("زواج بالقوة", ["forced_marriage"]),
        ("زواج بزز", ["forced_marriage"]),
    ],
)
def test_one_type_per_language(text: str, expected: list[str]) -> None:
    assert violence_types(text) == expected


def test_several_types_come_in_a_fixed_order() -> None:
    text = "il me frappe, m'insulte et prend tout mon salaire"
    assert violence_types(text) == ["physical", "psychological", "economic"]
    assert violence_types("he threatens to post my photos and he hits me") == ["physical", "psychological", "digital"]


@pytest.mark.parametrize(
    "text",
    ["", "bonjour", "je cherche un travail", "chokran bzaf", "ça me touche, merci", "I need a lawyer",
     "بغيت نخدم", "wach li kayhder m3aya insan", "how do I open a bank account"],
)
def test_ordinary_messages_have_no_type(text: str) -> None:
    assert violence_types(text) == []


def test_a_missing_language_is_named(tmp_path: Path) -> None:
    body = "".join(
        f"{t}:\n  ar: [x]\n  ary: [x]\n  ary-Latn: [x]\n  fr: [x]\n  en: [x]\n  examples: [x]\n" for t in VIOLENCE_TYPES
    ).replace("economic:\n  ar: [x]\n", "economic:\n")
    path = tmp_path / "types.yml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ValueError, match="economic.ar"):
        ViolenceTypesLexicon.load(path)
