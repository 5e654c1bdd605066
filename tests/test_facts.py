"""Maak's fact files and their loader."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from core.languages import LANGS
from facts import (
    FACTS_DIR,
    Facts,
    FactsError,
    Place,
    default_facts,
    load_facts,
)
from nlu.places import Places

REGION_CODES = {"TTA", "ORI", "FMK", "RSK", "BMK", "CST", "MSA", "DTA", "SMA", "GON", "LSH", "DOD"}
SERVICE_TYPES = (
    "court_cell",
    "hospital_unit",
    "police_cell",
    "gendarmerie_cell",
    "multifunctional_space",
    "listening_centre",
    "shelter",
)
KINDS = ("job", "training", "business")


@pytest.fixture(scope="module")
def facts() -> Facts:
    return default_facts()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A writable copy of the shipped fact files."""
    for path in FACTS_DIR.glob("*.yml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def edit(folder: Path, name: str, old: str, new: str) -> None:
    path = folder / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# ------------------------------------------------------------------------------- shipped files
def test_shipped_files_load(facts: Facts) -> None:
    assert set(facts.regions) == REGION_CODES
    assert default_facts() is facts
    assert load_facts(FACTS_DIR).regions.keys() == facts.regions.keys()
    assert len(facts.cities) >= 70
    for code, region in facts.regions.items():
        assert len(region.cities) >= 4, code
        assert region.capital in region.cities
        assert facts.cities[region.capital].region == code
        assert {"fr", "ar"} <= set(region.names)
    assert facts.regions["FMK"].capital == "Fès"
    assert facts.regions["DTA"].capital == "Errachidia"
    assert tuple(facts.service_types) == SERVICE_TYPES
    assert tuple(facts.kinds) == KINDS
    assert set(facts.partners) == {"anapec", "ofppt", "entraide", "indh", "barid"}


def test_every_region_has_every_service_type_and_opportunity_kind(facts: Facts) -> None:
    for code in REGION_CODES:
        types = {service.type for service in facts.services if service.region == code}
        assert types == set(SERVICE_TYPES), code
        kinds = {opp.kind for opp in facts.opportunities if opp.region == code}
        assert kinds == set(KINDS), code
    court = next(s for s in facts.services if s.region == "FMK" and s.type == "court_cell")
    assert court.city == "Fès"
    assert "Fès" in court.name["fr"] and "فاس" in court.name["ar"]


def test_regional_entries_are_samples_and_national_entries_cover_everything(facts: Facts) -> None:
    assert all(s.sample for s in facts.services if s.region != "national")
    assert all(o.sample for o in facts.opportunities if o.region != "national")
    national_types = {s.type for s in facts.services if s.region == "national"}
    assert national_types == set(SERVICE_TYPES)
    assert {o.kind for o in facts.opportunities if o.region == "national"} == set(KINDS)
    line = next(s for s in facts.services if s.id == "national-kolona-maak")
    assert line.type == "listening_centre" and "8350" in line.name["fr"]


def test_opportunity_texts_exist_in_all_five_tags(facts: Facts) -> None:
    for opp in facts.opportunities:
        assert set(opp.title) == set(LANGS), opp.id
        assert set(opp.how_to_apply) == set(LANGS), opp.id
    for kind in facts.service_types.values():
        assert set(kind.name) == set(LANGS) and set(kind.what) == set(LANGS)


def _all_texts(facts: Facts) -> list[str]:
    texts = []
    for service in facts.services:
        texts += [*service.name.values(), *service.how.values()]
    for opp in facts.opportunities:
        texts += [*opp.title.values(), *opp.how_to_apply.values()]
    return texts


def test_no_invented_numbers_or_sites(facts: Facts) -> None:
    known_numbers = {"19", "112", "177", "15", "8350", "141", "24", "7", "100"}
    known_sites = {"anapec.org", "ofppt.ma"}
    for text in _all_texts(facts):
        # Arabizi writes letters with digits ("3la", "l2a9rab"): only count free-standing numbers.
        assert set(re.findall(r"(?<![A-Za-z\d])\d+(?![A-Za-z\d])", text)) <= known_numbers, text
        assert set(re.findall(r"\b[\w-]+\.(?:ma|org|com|net)\b", text)) <= known_sites, text
    rendered = "\n".join(facts.render_numbers(lang) for lang in LANGS).lower()
    for word in ("gratuit", "free", "مجاني", "فابور", "batel"):
        assert word not in rendered


# ------------------------------------------------------------------------------------ places
@pytest.mark.parametrize(
    ("text", "region", "city"),
    [
        ("kaza", "CST", "Casablanca"),
        ("casa", "CST", "Casablanca"),
        ("ana f dar lbida", "CST", "Casablanca"),
        ("ana mn ddar lbida", "CST", "Casablanca"),
        ("الدار البيضاء", "CST", "Casablanca"),
        ("انا ساكنة فالدار البيضاء", "CST", "Casablanca"),
        ("انا في الدار البيضا", "CST", "Casablanca"),
        ("كازا", "CST", "Casablanca"),
        ("fkaza", "CST", "Casablanca"),
        ("je suis à Fès", "FMK", "Fès"),
        ("JE SUIS A FES!!", "FMK", "Fès"),
        ("fas", "FMK", "Fès"),
        ("ana f fas", "FMK", "Fès"),
        ("فاس", "FMK", "Fès"),
        ("mraksh", "MSA", "Marrakech"),
        ("ana f mrakch", "MSA", "Marrakech"),
        ("I live in Marrakesh", "MSA", "Marrakech"),
        ("مراكش", "MSA", "Marrakech"),
        ("tanja", "TTA", "Tanger"),
        ("f tanja", "TTA", "Tanger"),
        ("طنجة", "TTA", "Tanger"),
        ("titwan", "TTA", "Tétouan"),
        ("تطوان", "TTA", "Tétouan"),
        ("l7ocima", "TTA", "Al Hoceïma"),
        ("l3youn", "LSH", "Laâyoune"),
        ("ana f l3youn", "LSH", "Laâyoune"),
        ("في العيون", "LSH", "Laâyoune"),
        ("ana f sla", "RSK", "Salé"),
        ("je vis à Salé", "RSK", "Salé"),
        ("سلا", "RSK", "Salé"),
        ("rbat", "RSK", "Rabat"),
        ("frbat", "RSK", "Rabat"),
        ("بالرباط", "RSK", "Rabat"),
        ("ana f knitra", "RSK", "Kénitra"),
        ("agadir", "SMA", "Agadir"),
        ("أكادير", "SMA", "Agadir"),
        ("oujda", "ORI", "Oujda"),
        ("وجدة", "ORI", "Oujda"),
        ("bni mellal", "BMK", "Béni Mellal"),
        ("khouribga", "BMK", "Khouribga"),
        ("errachidia", "DTA", "Errachidia"),
        ("warzazat", "DTA", "Ouarzazate"),
        ("guelmim", "GON", "Guelmim"),
        ("ana f dakhla", "DOD", "Dakhla"),
        ("الداخلة", "DOD", "Dakhla"),
        ("ana f asfi", "MSA", "Safi"),
        ("j'habite à Safi", "MSA", "Safi"),
        ("ana mn eljadida", "CST", "El Jadida"),
        ("كنسكن فالجديدة", "CST", "El Jadida"),
        ("M'diq", "TTA", "M'diq"),
        ("tan-tan", "GON", "Tan-Tan"),
        # regions
        ("souss", "SMA", None),
        ("سوس", "SMA", None),
        ("l'oriental", "ORI", None),
        ("الجهة الشرقية", "ORI", None),
        ("jihat casa", "CST", None),
        ("Fès-Meknès", "FMK", None),
        ("je suis dans la région Casablanca-Settat", "CST", None),
        ("جهة سوس ماسة", "SMA", None),
        ("ana f lhaouz", "MSA", None),
    ],
)
def test_find_place(facts: Facts, text: str, region: str, city: str | None) -> None:
    assert Places(facts).find(text) == Place(region, city)


@pytest.mark.parametrize(
    "text",
    [
        "unknown",
        "la",
        "no",
        "لا",
        "",
        "   ",
        "islam",
        "salam, safi merci",
        "safi",
        "c'est sale",
        "sla",
        "dakhla l dar",
        "السيارة البيضاء",
        "عندي مشكل في العينين",
        "je ne veux pas dire",
        "sous la table",
        "taza",
    ],
)
def test_find_place_none(facts: Facts, text: str) -> None:
    assert Places(facts).find(text) is None


def test_find_place_guarded_spellings_count_when_expecting_a_place(facts: Facts) -> None:
    assert Places(facts).find("safi") is None
    assert Places(facts).find("safi", expecting=True) == Place("MSA", "Safi")
    assert Places(facts).find("sla", expecting=True) == Place("RSK", "Salé")
    assert Places(facts).find("la", expecting=True) is None


def test_find_place_longest_then_first(facts: Facts) -> None:
    assert Places(facts).find("tanger tetouan") == Place("TTA", None)
    assert Places(facts).find("ana f fes w mama f dar lbida") == Place("FMK", "Fès")
    assert Places(facts).find("dar lbida") == Place("CST", "Casablanca")


# ---------------------------------------------------------------------------------- languages
def test_fallback_chain(facts: Facts) -> None:
    both = {"fr": "FR", "ar": "AR"}
    assert facts.text(both, "ar") == "AR"
    assert facts.text(both, "ary") == "AR"
    assert facts.text(both, "ary-Latn") == "FR"
    assert facts.text(both, "fr") == "FR"
    assert facts.text(both, "en") == "FR"
    assert facts.text({**both, "ary": "ARY"}, "ar") == "AR"
    assert facts.text({"ary": "ARY", "fr": "FR"}, "ar") == "ARY"
    assert facts.text({**both, "en": "EN"}, "ary-Latn") == "FR"
    assert facts.text({"en": "EN", "ar": "AR"}, "ary-Latn") == "EN"
    assert facts.text({"en": "EN", "ar": "AR"}, "fr") == "EN"
    assert facts.text({"ar": "AR"}, "en") == "AR"
    assert facts.text(both, "xx") == "FR"
    assert facts.text({}, "fr") == ""


def test_region_and_place_names(facts: Facts) -> None:
    assert facts.region_name("FMK", "fr") == "Fès-Meknès"
    assert facts.region_name("FMK", "ary") == "فاس-مكناس"
    assert facts.region_name("FMK", "en") == "Fès-Meknès"
    assert facts.place_name(Place("FMK", "Fès"), "fr") == "Fès (Fès-Meknès)"
    assert facts.place_name(Place("FMK", "Fès"), "ar") == "فاس (فاس-مكناس)"
    assert facts.place_name(Place("FMK", "Fès"), "ary-Latn") == "Fès (Fès-Meknès)"
    assert facts.place_name(Place("ORI"), "fr") == "L'Oriental"
    with pytest.raises(KeyError):
        facts.region_name("XXX", "fr")


# ------------------------------------------------------------------------------------ look-ups
def test_services_for_region_then_national(facts: Facts) -> None:
    found = facts.services_for("FMK", ["shelter", "court_cell"])
    assert [s.type for s in found] == ["shelter", "court_cell", "shelter", "court_cell"]
    assert [s.region for s in found] == ["FMK", "FMK", "national", "national"]
    assert facts.services_for("fmk", ["shelter"])[0].region == "FMK"


@pytest.mark.parametrize("region", [None, "unknown", "", "XYZ"])
def test_services_for_unknown_region_gives_national_only(facts: Facts, region: str | None) -> None:
    found = facts.services_for(region, ["listening_centre", "police_cell"])
    assert found and all(s.region == "national" for s in found)
    assert [s.type for s in found] == ["listening_centre", "police_cell"]


def test_services_for_unknown_type_raises(facts: Facts) -> None:
    with pytest.raises(KeyError):
        facts.services_for("FMK", ["spa"])


def test_opportunities_for(facts: Facts) -> None:
    for kind in KINDS:
        found = facts.opportunities_for("SMA", kind)
        assert found[0].region == "SMA" and found[-1].region == "national"
        assert all(o.kind == kind for o in found)
        regions = [o.region for o in found]
        assert regions == sorted(regions, key=lambda r: r == "national")
    assert all(o.region == "national" for o in facts.opportunities_for(None, "job"))
    with pytest.raises(KeyError):
        facts.opportunities_for("SMA", "lottery")


# ----------------------------------------------------------------------------------- rendering
@pytest.mark.parametrize("lang", LANGS)
def test_render_numbers(facts: Facts, lang: str) -> None:
    lines = facts.render_numbers(lang).splitlines()
    assert len(lines) == 5
    assert all(line.startswith("• ") for line in lines)
    text = "\n".join(lines)
    for number in ("19", "177", "15", "8350", "141"):
        assert re.search(rf"(?<!\d){number}(?!\d)", text), (lang, number)
    numbers = [re.search(r"[:：]\s*(\d+)", line).group(1) for line in lines]
    assert numbers.index("141") > numbers.index("15")


def test_render_numbers_french(facts: Facts) -> None:
    lines = facts.render_numbers("fr").splitlines()
    assert lines[0] == "• Police : 19 (112 depuis un portable)"
    samu = next(line for line in lines if "141" in line)
    assert "15" in samu and "peut ne pas" in samu


@pytest.mark.parametrize("lang", LANGS)
def test_render_service_and_opportunity(facts: Facts, lang: str) -> None:
    service = facts.services_for("CST", ["hospital_unit"])[0]
    rendered = facts.render_service(service, lang)
    assert rendered.count("\n") == 1
    assert facts.text(service.how, lang) in rendered
    opp = facts.opportunities_for("CST", "job")[0]
    rendered = facts.render_opportunity(opp, lang)
    assert rendered.count("\n") == 1
    assert ("الدار البيضاء" if lang in ("ar", "ary") else "Casablanca") in rendered


# -------------------------------------------------------------------------------- broken files
def test_bad_region_code_in_services(folder: Path) -> None:
    edit(folder, "services.yml", "region: FMK", "region: FMX")
    with pytest.raises(FactsError, match=r"services\.yml: service fmk-court-cell: unknown region 'FMX'"):
        load_facts(folder)


def test_missing_ar_in_numbers(folder: Path) -> None:
    edit(folder, "numbers.yml", '      ar: "الشرطة"\n', "")
    with pytest.raises(FactsError, match=r"numbers\.yml: number police: label is missing the ar text"):
        load_facts(folder)


def test_missing_fr_in_opportunity(folder: Path) -> None:
    edit(folder, "opportunities.yml", '      fr: "Agence ANAPEC de Tanger', '      xx: "Agence ANAPEC de Tanger')
    with pytest.raises(FactsError, match=r"opportunities\.yml: opportunity tta-anapec: title has unknown language tag 'xx'"):
        load_facts(folder)


def test_spelling_for_two_regions(folder: Path) -> None:
    edit(folder, "regions.yml", '"fnideq", ', '"kaza", ')
    with pytest.raises(FactsError, match=r"regions\.yml: region CST, town Casablanca: spelling 'kaza' also names") as error:
        Places(load_facts(folder))
    assert "town Fnideq (TTA)" in str(error.value)


def test_unknown_service_type(folder: Path) -> None:
    edit(folder, "services.yml", "type: shelter", "type: hotel")
    with pytest.raises(FactsError, match=r"service tta-shelter: unknown type 'hotel'"):
        load_facts(folder)


def test_unknown_partner(folder: Path) -> None:
    edit(folder, "opportunities.yml", "partner: ofppt", "partner: ofpt")
    with pytest.raises(FactsError, match=r"opportunity tta-ofppt: unknown partner 'ofpt'"):
        load_facts(folder)


def test_unknown_kind(folder: Path) -> None:
    edit(folder, "opportunities.yml", "kind: job", "kind: jobs")
    with pytest.raises(FactsError, match=r"opportunity tta-anapec: unknown kind 'jobs'"):
        load_facts(folder)


def test_city_outside_its_region(folder: Path) -> None:
    edit(folder, "services.yml", 'city: "Tanger"', 'city: "Agadir"')
    with pytest.raises(FactsError, match=r"service tta-court-cell: unknown city 'Agadir' for region TTA"):
        load_facts(folder)


def test_duplicate_id(folder: Path) -> None:
    edit(folder, "services.yml", "id: tta-hospital-unit", "id: tta-court-cell")
    with pytest.raises(FactsError, match=r"service tta-court-cell: duplicate id 'tta-court-cell'"):
        load_facts(folder)


def test_capital_must_be_a_town(folder: Path) -> None:
    edit(folder, "regions.yml", 'capital: "Oujda"', 'capital: "Ujda"')
    with pytest.raises(FactsError, match=r"regions\.yml: region ORI: capital 'Ujda' is not one of its towns"):
        load_facts(folder)


def test_misspelt_field(folder: Path) -> None:
    edit(folder, "opportunities.yml", "how_to_apply:", "how_to_aply:")
    with pytest.raises(
        FactsError,
        match=r"opportunities\.yml: opportunity tta-anapec: missing field\(s\) how_to_apply; unknown field\(s\) how_to_aply",
    ):
        load_facts(folder)


def test_missing_and_invalid_files(folder: Path) -> None:
    (folder / "numbers.yml").write_text("numbers: [\n", encoding="utf-8")
    with pytest.raises(FactsError, match=r"numbers\.yml: is not valid YAML"):
        load_facts(folder)
    (folder / "numbers.yml").unlink()
    with pytest.raises(FactsError, match=r"numbers\.yml: cannot be read"):
        load_facts(folder)
