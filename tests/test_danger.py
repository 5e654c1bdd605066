"""The danger-now decision: the shipped classifier, its data, and what it reads in clear cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from nlu import training as nlu_training
from nlu.danger import assess, clears_the_chat
from nlu.features import CUES_PATH, DIMENSIONS, cue_matcher, features, load_cues
from nlu.training import KINDS_DIR, TrainingDataError, read_tsv
from nlu.urgency import OUTCOMES, UrgencyModel, UrgencyModelError, default_model

LANGS = {"ar", "ary", "ary-Latn", "fr", "en"}


def test_the_shipped_models_are_trained_on_todays_data() -> None:
    # Editing nlu/data without `maak train` would ship a decision that never saw the edit.
    examples = nlu_training.all_examples()
    assert nlu_training.urgency_is_current(examples), "run `maak train`: nlu/urgency.npz is older than nlu/data"
    assert nlu_training.dialect_is_current(examples), "run `maak train`: nlu/dialect.npz is older than nlu/data"


def test_every_kinds_file_is_valid_and_every_tag_has_every_urgent_kind() -> None:
    rows = [row for path in sorted(KINDS_DIR.glob("*.tsv")) for row in read_tsv(path)]
    assert {row["lang"] for row in rows} == LANGS
    urgent_kinds = {"violence_now", "weapon", "threat_timed", "strangled", "injury", "confined", "followed",
                    "sexual_now", "self_harm", "other_person", "forced_marriage_soon", "thrown_out", "hiding"}
    for lang in LANGS:
        kinds = {row["kind"] for row in rows if row["lang"] == lang and row["urgent"] == "1"}
        assert urgent_kinds <= kinds, (lang, urgent_kinds - kinds)
        hard = {row["kind"] for row in rows if row["lang"] == lang and row["urgent"] == "0"}
        assert {"past_violence", "away_now", "interruption", "everyday_urgency", "survivor_request"} <= hard


def test_every_kinds_row_has_an_intent_of_the_domain() -> None:
    # The rows train the intent classifier too: an intent the domain lacks would be predicted
    # with no rule or response behind it.
    domain = yaml.safe_load((Path(__file__).parents[1] / "domain.yml").read_text(encoding="utf-8"))
    intents = {name if isinstance(name, str) else next(iter(name)) for name in domain["intents"]}
    used = {row["intent"] for path in sorted(KINDS_DIR.glob("*.tsv")) for row in read_tsv(path)}
    assert used <= intents, used - intents


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("he is hitting me right now and he has a knife", "danger"),
        ("il me frappe là maintenant, au secours", "danger"),
        ("rajli kaydrbni daba w 3ndo mos", "danger"),
        ("راجلي كيضربني دابا وفيدو جنوية", "danger"),
        ("زوجي يضربني الآن ومعه سكين", "danger"),
        ("i swallowed all the pills, goodbye", "self_harm"),
        ("someone is coming i have to stop", "interruption"),
        ("my ex used to hit me years ago, I want to talk about it", "none"),
        ("when will my new bank card arrive?", "none"),
        ("je cherche une formation en couture à Fès", "none"),
    ],
)
def test_clear_messages_are_read_as_a_person_would(text: str, outcome: str) -> None:
    assert assess(text).outcome == outcome


@pytest.mark.parametrize(
    "text",
    [
        # Ordinary life, with the time words and strong words that danger messages share.
        "dim the lights in the bedroom a little bit",
        "I need a double room from tonight until Monday please",
        "the ATM kept my card right now what do I do",
        "ce soir le match commence à quelle heure ?",
        "j'ai perdu mes clés, le serrurier peut venir maintenant ?",
        "أريد حجز طاولة لشخصين الليلة قرب النافذة",
        "متى يصل الحوالة البنكية إلى حسابي اليوم؟",
        "الله يرحم الوالدين على هاد الفيديو زوين بزاف",
        "lmatch lyouma ghadi ykon sa3a tmanya f tele",
    ],
)
def test_ordinary_messages_with_time_words_are_not_urgent(text: str) -> None:
    reading = default_model().read(text)
    assert not assess(text).urgent, (reading.probabilities, reading.now, reading.harm)


def test_empty_messages_are_nothing_urgent() -> None:
    # "?" and "..." have no words to read: nothing urgent, and not "I must stop" either.
    for text in ("", "   ", "\n", "?", "...", "!!"):
        decision = assess(text)
        assert decision.outcome == "none" and not decision.urgent


def test_features_are_the_same_in_every_process_and_spelling() -> None:
    # crc32, not Python's salted hash: the gateway and Rasa read the same file the same way.
    assert features("kaydrebni daba") == features("kaydrbni daba")
    assert features("KAYDREBNI daba!!") == features("kaydrebni daba")
    assert all(0 <= i < DIMENSIONS for i in features("زوجي يضربني"))
    assert features("x" * 5000) == features("x" * 5000)


@pytest.mark.parametrize(
    ("text", "cues"),
    [
        ("he choked me a moment ago and my voice is gone", ["fresh", "body"]),
        ("wa7ed dghet lia 3la l3n9 ghir daba", ["fresh", "body"]),
        ("il m'a forcée il y a une heure et il est encore dans l'appartement", ["fresh", "present", "sexual"]),
        ("my ex used to hit me years ago", ["past"]),
        ("when will my new bank card arrive?", []),
    ],
)
def test_the_cues_of_risk_and_time_are_found_in_every_spelling(text: str, cues: list[str]) -> None:
    # A burn a moment ago and a burn years ago share their words: the pair of cues tells them apart.
    assert cue_matcher().match(text) == cues
    assert (set(features(text, cues=True)) > set(features(text))) == bool(cues)


def test_every_cue_speaks_every_tag_and_a_malformed_cue_file_names_the_cue(tmp_path: Path) -> None:
    assert load_cues(CUES_PATH).keys == cue_matcher().keys
    data = yaml.safe_load(CUES_PATH.read_text(encoding="utf-8"))
    del data["fresh"]["ary"]
    bad = tmp_path / "cues.yml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="fresh"):
        load_cues(bad)
    bad.write_text("fresh:\n  en: ['a ... ']\n  fr: [x]\n  ar: [x]\n  ary: [x]\n  ary-Latn: [x]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="cues.yml"):
        load_cues(bad)


def test_a_huge_message_costs_no_more_than_its_first_thousand_characters() -> None:
    assert features("a " * 100_000) == features("a " * 500)
    assert features("now " * 100_000, cues=True) == features("now " * 250, cues=True)


def test_a_missing_or_foreign_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UrgencyModelError):
        UrgencyModel.load(tmp_path / "none.npz")
    np.savez(tmp_path / "other.npz", weights=np.zeros((2, 2)), bias=np.zeros(2), threshold=0.5,
             data_hash="x", outcomes=np.array(["a", "b"]))
    with pytest.raises(UrgencyModelError):
        UrgencyModel.load(tmp_path / "other.npz")


def test_a_saved_model_reads_like_the_shipped_one(tmp_path: Path) -> None:
    model = default_model()
    model.save(tmp_path / "copy.npz")
    copy = UrgencyModel.load(tmp_path / "copy.npz")
    assert copy.read("he has a knife now").outcome == model.read("he has a knife now").outcome
    assert set(OUTCOMES) == set(copy.read("hello").probabilities)


def test_a_malformed_kinds_file_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "xx-z.tsv"
    bad.write_text("text\tintent\tlang\turgent\tkind\nhello\tgreet\ten\tmaybe\tplain\n", encoding="utf-8")
    with pytest.raises(TrainingDataError, match=r"xx-z\.tsv:2"):
        read_tsv(bad)
    bad.write_text("text\tintent\tlang\turgent\tkind\nhe hits me now\treport_violence\ten\t1\tviolence_now\n")
    with pytest.raises(TrainingDataError, match="urgent is 1 exactly"):
        read_tsv(bad)


def test_the_kinds_rows_reach_the_intent_classifier_once(tmp_path: Path) -> None:
    count = nlu_training.write_rasa_examples(tmp_path / "kinds.yml")
    data = yaml.safe_load((tmp_path / "kinds.yml").read_text(encoding="utf-8"))
    texts = [line[2:] for block in data["nlu"] for line in block["examples"].splitlines()]
    assert count == len(texts) == len(set(texts)) > 1000
    known = {e.text for e in nlu_training.intent_examples()}
    assert not known & set(texts)


READ_DIR = Path(__file__).parent / "data" / "read"


FIRST_READINGS = yaml.safe_load((READ_DIR / "first_reading.yml").read_text(encoding="utf-8"))["missed"]


@pytest.mark.parametrize(("name", "lang"), [(name, lang) for name in sorted(FIRST_READINGS) for lang in sorted(LANGS)])
def test_the_last_blind_sets_keep_their_urgent_recall(name: str, lang: str) -> None:
    """The newest sets written blind (first readings in docs/nlu.md; training data once folded in)
    must not lose an urgent message to a later change."""
    # A set read once is training data afterwards (nlu/data/kinds/): its first reading still holds.
    paths = sorted([*READ_DIR.glob(f"*-{name}.tsv"), *nlu_training.KINDS_DIR.glob(f"*-{name}.tsv")])
    rows = [row for path in paths for row in read_tsv(path) if row["lang"] == lang]
    urgent = [row["text"] for row in rows if row["urgent"] == "1"]
    missed = [text for text in urgent if not assess(text).urgent]
    assert len(urgent) >= 40 and len(missed) <= FIRST_READINGS[name][lang], missed


@pytest.mark.parametrize(
    ("text", "outcome"),
    [("m7i kolchi", "none"), ("امسح كلشي", "none"), ("les numéros svp", "none"), ("stop", "interruption")],
)
def test_a_whole_message_command_is_what_she_asked_for(text: str, outcome: str) -> None:
    # "m7i kolchi" (erase it all) must erase, never read as a wish to disappear.
    assert assess(text).outcome == outcome


@pytest.mark.parametrize(
    ("intent", "kind", "outcome"),
    [("stop", "interruption", "interruption"), ("forget_me", "interruption", "interruption"),
     ("forget_me", "plain", "none"), ("immediate_danger", "self_harm", "self_harm")],
)
def test_an_erasure_asked_in_a_hurry_is_learnt_as_an_interruption(intent: str, kind: str, outcome: str) -> None:
    # "Delete it all, he is here" must end with the quick exit, though what she asked is to erase.
    assert nlu_training.outcome_of(intent, kind) == outcome


@pytest.mark.parametrize(
    ("text", "exits"),
    [
        ("امسحوا المحادثة فورا", True),
        ("مسحو كلشي دغيا راه جاي", True),
        ("7ayed kolchi bzerba rah kayqleb f tilifoni", True),
        ("effacez tout, il arrive", True),
        ("delete this chat quickly before he sees it", True),
        ("أريد حذف بياناتي من فضلكم", False),
        ("بغيت تمسحو المعلومات ديالي", False),
        ("bghit nms7 les donnees dyali", False),
        ("pouvez-vous effacer mes données s'il vous plaît", False),
        ("please delete my data", False),
    ],
)
def test_forget_me_in_a_hurry_also_clears_her_screen(text: str, exits: bool) -> None:
    # The decision may read "none": her words alone (hurry, someone here, someone at her phone) suffice.
    assert clears_the_chat("forget_me", "none", text) is exits
    assert clears_the_chat("stop", "none", text) and not clears_the_chat("seek_job", "interruption", text)


@pytest.mark.parametrize(
    "text",
    [
        "delete everything he is back and he has a knife",
        "امسحوا كلشي راه جا و هاز الموس",
        "efface tout il revient avec un couteau",
    ],
)
def test_danger_after_a_request_to_erase_is_an_interruption(text: str) -> None:
    # DANGER.md: "delete everything, he's here" gets the neutral quick exit, never the numbers.
    assert not assess(text).urgent and assess(text.split(maxsplit=2)[2]).urgent
    assert assess(text).interruption


@pytest.mark.parametrize(
    ("text", "asks_first"),
    [
        ("a man has been following me with his car since I left work, what should I do", True),
        ("un homme me suit en voiture depuis la sortie du travail, je fais quoi", True),
        ("wa7ed rajel kaytb3ni b tomobil mn khrjt mn lkhdma, achnou ndir", True),
        ("je cherche un travail de chauffeur de taxi à Casablanca", False),
        ("he used to threaten me with a knife years ago; now I am looking for a training in cooking", False),
    ],
)
def test_a_request_told_with_a_danger_and_no_distance_asks_first_whether_she_is_safe(text: str, asks_first: bool) -> None:
    # Read calm (a question about what to do, a job), yet a man following her has no "years ago":
    # the answer asks first whether she is safe right now, with "no" one tap from the urgent path.
    decision = assess(text)
    assert (decision.urgent or decision.doubtful) == asks_first, decision
