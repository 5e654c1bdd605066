"""Maak's facts: regions and towns, numbers to call, care services and opportunities.

The facts live in YAML files next to this module, written so that an operator can correct them:
``regions.yml``, ``numbers.yml``, ``services.yml`` and ``opportunities.yml``. :func:`load_facts`
reads and validates them; :func:`default_facts` returns the shipped files, loaded once.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

import yaml

from core.languages import FALLBACKS, LANGS

__all__ = [
    "NATIONAL",
    "UNKNOWN",
    "City",
    "Facts",
    "FactsError",
    "Number",
    "Opportunity",
    "Partner",
    "Place",
    "Region",
    "Service",
    "ServiceType",
    "default_facts",
    "load_facts",
]

REQUIRED_LANGS = ("fr", "ar")
NATIONAL = "national"
UNKNOWN = "unknown"
FACTS_DIR = Path(__file__).resolve().parent

REGIONS_FILE = "regions.yml"
NUMBERS_FILE = "numbers.yml"
SERVICES_FILE = "services.yml"
OPPORTUNITIES_FILE = "opportunities.yml"

_ADDRESS = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+(/[\w./-]*)?")
_LIST_SEPARATORS = {"fr": " ; ", "ar": "، ", "ary": "، "}
_LABEL_SEPARATORS = {"fr": " : "}

Texts = Mapping[str, str]
_EMPTY: Texts = MappingProxyType({})
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class FactsError(ValueError):
    """A fact file is missing, unreadable or inconsistent; the message names file, entry and problem."""


@dataclass(frozen=True)
class Region:
    """One of Morocco's 12 regions.

    Attributes:
        code: Three-letter code ("FMK").
        names: Name per language tag.
        capital: French name of the capital town.
        cities: French names of its towns, in file order.
        spellings: Other ways to write it (its names count too); `nlu.places` finds them in her words.
        guarded: Spellings that are also everyday words: they count only where a place is expected.
    """

    code: str
    names: Texts
    capital: str
    cities: tuple[str, ...] = ()
    spellings: tuple[str, ...] = ()
    guarded: tuple[str, ...] = ()


@dataclass(frozen=True)
class City:
    """A town: its names (fr, ar at least), its region code, its spellings as for `Region`."""

    name: Texts
    region: str
    spellings: tuple[str, ...] = ()
    guarded: tuple[str, ...] = ()


@dataclass(frozen=True)
class Place:
    """Where she is: a region code and, when she named a town, its French name."""

    region: str
    city: str | None = None


@dataclass(frozen=True)
class Number:
    """A number she can call."""

    code: str
    number: str
    label: Texts
    order: int
    confirmed: bool
    note: Texts = field(default=_EMPTY)
    # Shown only in the reply to self-harm (e.g. a chat for young people, not a phone number).
    self_harm_only: bool = False


@dataclass(frozen=True)
class ServiceType:
    """A kind of care service: its name and what it does for her."""

    code: str
    name: Texts
    what: Texts


@dataclass(frozen=True)
class Service:
    """A care service of a region (or ``national``)."""

    id: str
    type: str
    region: str
    city: str | None
    name: Texts
    how: Texts
    sample: bool


@dataclass(frozen=True)
class Partner:
    """An organisation behind opportunities; ``offers`` is the file's ``for`` field."""

    code: str
    name: Texts
    offers: Texts
    site: str | None = None


@dataclass(frozen=True)
class Opportunity:
    """A job, training or business opportunity of a region (or ``national``)."""

    id: str
    kind: str
    partner: str
    region: str
    city: str | None
    title: Texts
    how_to_apply: Texts
    sample: bool


class Facts:
    """The validated facts, with look-ups and short renderings for the assistant.

    Attributes:
        regions: Regions by code, in file order.
        cities: Towns by French name.
        numbers: Numbers to call, sorted by ``order``.
        unconfirmed_note: Words shown after a number whose ``confirmed`` is false, per tag.
        service_types: Service types by code, in file order.
        services: Care services, in file order.
        kinds: Opportunity kinds (code → name per tag), in file order.
        partners: Partners by code.
        opportunities: Opportunities, in file order.
        place_words: Words meaning "in" ("f", "à", "في") after which a guarded spelling counts.
    """

    def __init__(
        self,
        *,
        regions: Mapping[str, Region],
        cities: Mapping[str, City],
        numbers: Sequence[Number],
        unconfirmed_note: Texts,
        self_harm_first: Sequence[str] = (),
        service_types: Mapping[str, ServiceType],
        services: Sequence[Service],
        kinds: Mapping[str, Texts],
        partners: Mapping[str, Partner],
        opportunities: Sequence[Opportunity],
        place_words: Iterable[str] = (),
    ) -> None:
        self.regions: dict[str, Region] = dict(regions)
        self.cities: dict[str, City] = dict(cities)
        self.numbers: list[Number] = sorted(numbers, key=lambda n: (n.order, n.code))
        self.unconfirmed_note = unconfirmed_note
        self.self_harm_first = tuple(self_harm_first)
        self.service_types: dict[str, ServiceType] = dict(service_types)
        self.services: list[Service] = list(services)
        self.kinds: dict[str, Texts] = dict(kinds)
        self.partners: dict[str, Partner] = dict(partners)
        self.opportunities: list[Opportunity] = list(opportunities)
        self.place_words: tuple[str, ...] = tuple(place_words)

    # ------------------------------------------------------------------------------ texts
    @staticmethod
    def text(texts: Mapping[str, str], lang: str) -> str:
        """The text for ``lang``, following its fallback chain (an unknown tag is read as fr).

        Returns the first non-empty text of the chain, else any non-empty text, else "".
        """
        for tag in FALLBACKS.get(lang, FALLBACKS["fr"]):
            value = texts.get(tag)
            if value:
                return value
        return next((value for value in texts.values() if value), "")

    def region_name(self, code: str, lang: str) -> str:
        """The name of region ``code`` in ``lang``; raises KeyError for an unknown code."""
        return self.text(self.regions[code].names, lang)

    def city_name(self, city: str, lang: str) -> str:
        """The name of a town (given by its French name): Arabic for ar/ary, French otherwise."""
        names = self.cities[city].name
        return names["ar"] if lang in ("ar", "ary") else names["fr"]

    def place_name(self, place: Place, lang: str) -> str:
        """"Fès (Fès-Meknès)" for a town, the region's name alone for a region."""
        region = self.region_name(place.region, lang)
        if place.city is None:
            return region
        return f"{self.city_name(place.city, lang)} ({region})"

    def service_type_name(self, code: str, lang: str) -> str:
        """The name of a service type in ``lang``."""
        return self.text(self.service_types[code].name, lang)

    def service_type_what(self, code: str, lang: str) -> str:
        """One line on what a service type does for her, in ``lang``."""
        return self.text(self.service_types[code].what, lang)

    def kind_name(self, kind: str, lang: str) -> str:
        """The name of an opportunity kind in ``lang``."""
        return self.text(self.kinds[kind], lang)

    def partner_name(self, code: str, lang: str) -> str:
        """The name of a partner in ``lang``."""
        return self.text(self.partners[code].name, lang)

    # ------------------------------------------------------------------------------ look-ups
    def services_for(self, region: str | None, types: Sequence[str]) -> list[Service]:
        """Services of those types: the region's first (in the order of ``types``), then national ones.

        A region that is None, "unknown" or not a known code gives the national entries only.
        Raises KeyError for an unknown service type.
        """
        for code in types:
            if code not in self.service_types:
                raise KeyError(f"unknown service type {code!r}")
        region_code = self._region_code(region)
        scopes = ([region_code] if region_code else []) + [NATIONAL]
        return [
            service
            for scope in scopes
            for kind in types
            for service in self.services
            if service.region == scope and service.type == kind
        ]

    def opportunities_for(self, region: str | None, kind: str) -> list[Opportunity]:
        """Opportunities of ``kind``: the region's first, then national ones.

        A region that is None, "unknown" or not a known code gives the national entries only.
        Raises KeyError for an unknown kind.
        """
        if kind not in self.kinds:
            raise KeyError(f"unknown opportunity kind {kind!r}")
        code = self._region_code(region)
        scopes = ([code] if code else []) + [NATIONAL]
        return [opp for scope in scopes for opp in self.opportunities if opp.region == scope and opp.kind == kind]

    def _region_code(self, region: str | None) -> str | None:
        if not region:
            return None
        code = region.strip().upper()
        return code if code in self.regions else None

    # ------------------------------------------------------------------------------ rendering
    def render_numbers(self, lang: str, self_harm: bool = False) -> str:
        """One line per number, e.g. "• Police : 19 (112 depuis un portable)".

        For self-harm the medical numbers (`self_harm_first`) come first, and the entries shown
        only then are added.
        """
        label_sep = _LABEL_SEPARATORS.get(lang, ": ")
        list_sep = _LIST_SEPARATORS.get(lang, "; ")
        lines = []
        shown = [n for n in self.numbers if self_harm or not n.self_harm_only]
        if self_harm:
            shown.sort(key=lambda n: n.code not in self.self_harm_first)
        for number in shown:
            notes = []
            if not number.confirmed:
                notes.append(self.text(self.unconfirmed_note, lang))
            if number.note:
                notes.append(self.text(number.note, lang))
            notes = [note for note in notes if note]
            line = f"• {self.text(number.label, lang)}{label_sep}{number.number}"
            if notes:
                line += f" ({list_sep.join(notes)})"
            lines.append(line)
        return "\n".join(lines)

    def render_service(self, service: Service, lang: str) -> str:
        """The service's name, then how to reach it."""
        return f"{self.text(service.name, lang)}\n{self.text(service.how, lang)}"

    def render_opportunity(self, opp: Opportunity, lang: str) -> str:
        """The opportunity's title, then how to apply."""
        return f"{self.text(opp.title, lang)}\n{self.text(opp.how_to_apply, lang)}"


# ---------------------------------------------------------------------------------- loading
class _File:
    """Reading helpers that raise FactsError naming this file."""

    def __init__(self, folder: Path, name: str) -> None:
        self.name = name
        path = folder / name
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as error:
            raise FactsError(f"{name}: cannot be read ({error.strerror or error})") from error
        try:
            self.data = yaml.load(raw, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
        except yaml.YAMLError as error:
            raise FactsError(f"{name}: is not valid YAML: {error}") from error
        if not isinstance(self.data, dict):
            raise FactsError(f"{name}: should be a mapping of sections at the top level")

    @staticmethod
    def label(raw: Any, index: int, kind: str, key: str) -> str:
        """"service tta-shelter" when the entry has its id, else "service #3"."""
        ident = raw.get(key) if isinstance(raw, dict) else None
        return f"{kind} {ident}" if isinstance(ident, str) and ident.strip() else f"{kind} #{index}"

    def fail(self, entry: str, problem: str) -> FactsError:
        return FactsError(f"{self.name}: {entry}: {problem}")

    def section(self, key: str) -> list[Any]:
        value = self.data.get(key)
        if not isinstance(value, list) or not value:
            raise self.fail(f"section '{key}'", "is missing or is not a non-empty list")
        return value

    def entry(self, raw: Any, where: str, required: Sequence[str], optional: Sequence[str] = ()) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(where, "should be a mapping of fields")
        missing = [key for key in required if key not in raw]
        unknown = [str(key) for key in raw if key not in required and key not in optional]
        problems = []
        if missing:
            problems.append(f"missing field(s) {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown field(s) {', '.join(unknown)} (expected: {', '.join([*required, *optional])})")
        if problems:
            raise self.fail(where, "; ".join(problems))
        return raw

    def word(self, value: Any, where: str, what: str) -> str:
        if not isinstance(value, str) or not value.strip() or value != value.strip():
            raise self.fail(where, f"{what} should be a non-empty text without surrounding spaces, got {value!r}")
        return value

    def flag(self, value: Any, where: str, what: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"{what} should be true or false, got {value!r}")
        return value

    def texts(self, value: Any, where: str, what: str) -> Texts:
        if not isinstance(value, dict):
            raise self.fail(where, f"{what} should be texts keyed by language tag ({', '.join(LANGS)})")
        result: dict[str, str] = {}
        for tag, text in value.items():
            if tag not in LANGS:
                raise self.fail(where, f"{what} has unknown language tag {tag!r} (use {', '.join(LANGS)})")
            if not isinstance(text, str) or not text.strip():
                raise self.fail(where, f"{what}[{tag}] should be a non-empty text")
            result[tag] = text.strip()
        missing = [tag for tag in REQUIRED_LANGS if tag not in result]
        if missing:
            raise self.fail(where, f"{what} is missing the {' and '.join(missing)} text")
        return MappingProxyType(result)

    def words(self, value: Any, where: str, what: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(where, f"{what} should be a list")
        for item in value:
            if not isinstance(item, str) or not any(char.isalpha() for char in item):
                raise self.fail(where, f"{what} has {item!r}, which is not a text with letters (put it in quotes)")
        return value

    def unique(self, seen: set[str], value: str, where: str, what: str) -> None:
        if value in seen:
            raise self.fail(where, f"duplicate {what} {value!r}")
        seen.add(value)

    def region_and_city(
        self, raw: dict[str, Any], where: str, regions: Mapping[str, Region], cities: Mapping[str, City]
    ) -> tuple[str, str | None]:
        region = self.word(raw["region"], where, "region")
        if region != NATIONAL and region not in regions:
            raise self.fail(where, f"unknown region {region!r} (use a code of {REGIONS_FILE} or '{NATIONAL}')")
        city = raw.get("city")
        if city is None:
            return region, None
        city = self.word(city, where, "city")
        if region == NATIONAL:
            raise self.fail(where, f"a national entry has no city (got {city!r}): write city: null")
        if city not in cities or cities[city].region != region:
            raise self.fail(where, f"unknown city {city!r} for region {region} (use a French town name of {REGIONS_FILE})")
        return region, city


def _load_regions(folder: Path) -> tuple[dict[str, Region], dict[str, City], list[str]]:
    file = _File(folder, REGIONS_FILE)
    place_words = file.words(file.data.get("place_words"), "section 'place_words'", "place_words")
    regions: dict[str, Region] = {}
    cities: dict[str, City] = {}

    for index, raw in enumerate(file.section("regions"), start=1):
        where = _File.label(raw, index, "region", "code")
        entry = file.entry(raw, where, ("code", "names", "capital", "cities"), ("spellings", "guarded"))
        code = file.word(entry["code"], where, "code")
        where = f"region {code}"
        if code.lower() in (NATIONAL, UNKNOWN) or not code.isalpha() or not code.isupper():
            raise file.fail(where, "code should be upper-case letters (and not 'national' or 'unknown')")
        if code in regions:
            raise file.fail(where, f"duplicate region code {code!r}")
        names = file.texts(entry["names"], where, "names")
        capital = file.word(entry["capital"], where, "capital")
        town_names: list[str] = []
        raw_cities = entry["cities"]
        if not isinstance(raw_cities, list) or not raw_cities:
            raise file.fail(where, "cities should be a non-empty list")
        for city_index, raw_city in enumerate(raw_cities, start=1):
            city_name = raw_city.get("name") if isinstance(raw_city, dict) else None
            french_name = city_name.get("fr") if isinstance(city_name, dict) else None
            city_where = f"{where}, town " + (french_name if isinstance(french_name, str) else f"#{city_index}")
            city_entry = file.entry(raw_city, city_where, ("name",), ("spellings", "guarded"))
            name = file.texts(city_entry["name"], city_where, "name")
            french = name["fr"]
            city_where = f"{where}, town {french}"
            if french in cities:
                raise file.fail(city_where, f"duplicate town {french!r} (already in region {cities[french].region})")
            cities[french] = City(
                name,
                code,
                tuple(file.words(city_entry.get("spellings"), city_where, "spellings")),
                tuple(file.words(city_entry.get("guarded"), city_where, "guarded")),
            )
            town_names.append(french)
        if capital not in town_names:
            raise file.fail(where, f"capital {capital!r} is not one of its towns ({', '.join(town_names)})")
        regions[code] = Region(
            code,
            names,
            capital,
            tuple(town_names),
            tuple(file.words(entry.get("spellings"), where, "spellings")),
            tuple(file.words(entry.get("guarded"), where, "guarded")),
        )
    return regions, cities, place_words


def _load_numbers(folder: Path) -> tuple[list[Number], Texts, tuple[str, ...]]:
    file = _File(folder, NUMBERS_FILE)
    note = file.texts(file.data.get("unconfirmed_note"), "section 'unconfirmed_note'", "unconfirmed_note")
    numbers: list[Number] = []
    seen: set[str] = set()
    for index, raw in enumerate(file.section("numbers"), start=1):
        where = _File.label(raw, index, "number", "code")
        entry = file.entry(raw, where, ("code", "number", "order", "confirmed", "label"), ("note", "self_harm_only"))
        code = file.word(entry["code"], where, "code")
        where = f"number {code}"
        file.unique(seen, code, where, "number code")
        self_harm_only = entry.get("self_harm_only") is not None and file.flag(entry["self_harm_only"], where, "self_harm_only")
        value = entry["number"]
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        # A self-harm-only entry may be a chat's address; a number to dial is digits.
        if not isinstance(value, str) or not (value.isdigit() or (self_harm_only and _ADDRESS.fullmatch(value))):
            raise file.fail(where, f"number should be digits in quotes, got {value!r}")
        order = entry["order"]
        if not isinstance(order, int) or isinstance(order, bool):
            raise file.fail(where, f"order should be a whole number, got {order!r}")
        numbers.append(
            Number(
                code=code,
                number=value,
                label=file.texts(entry["label"], where, "label"),
                order=order,
                confirmed=file.flag(entry["confirmed"], where, "confirmed"),
                note=file.texts(entry["note"], where, "note") if entry.get("note") is not None else _EMPTY,
                self_harm_only=self_harm_only,
            )
        )
    first = file.data.get("self_harm_first") or []
    if not isinstance(first, list) or not set(first) <= seen:
        raise file.fail("section 'self_harm_first'", f"must list codes of numbers, got {first!r}")
    return numbers, note, tuple(first)


def _load_services(
    folder: Path, regions: Mapping[str, Region], cities: Mapping[str, City]
) -> tuple[dict[str, ServiceType], list[Service]]:
    file = _File(folder, SERVICES_FILE)
    types: dict[str, ServiceType] = {}
    for index, raw in enumerate(file.section("types"), start=1):
        where = _File.label(raw, index, "type", "code")
        entry = file.entry(raw, where, ("code", "name", "what"))
        code = file.word(entry["code"], where, "code")
        where = f"type {code}"
        if code in types:
            raise file.fail(where, f"duplicate type {code!r}")
        types[code] = ServiceType(code, file.texts(entry["name"], where, "name"), file.texts(entry["what"], where, "what"))
    services: list[Service] = []
    seen: set[str] = set()
    for index, raw in enumerate(file.section("services"), start=1):
        where = _File.label(raw, index, "service", "id")
        entry = file.entry(raw, where, ("id", "type", "region", "name", "how", "sample"), ("city",))
        ident = file.word(entry["id"], where, "id")
        where = f"service {ident}"
        file.unique(seen, ident, where, "id")
        kind = file.word(entry["type"], where, "type")
        if kind not in types:
            raise file.fail(where, f"unknown type {kind!r} (use one of {', '.join(types)})")
        region, city = file.region_and_city(entry, where, regions, cities)
        services.append(
            Service(
                id=ident,
                type=kind,
                region=region,
                city=city,
                name=file.texts(entry["name"], where, "name"),
                how=file.texts(entry["how"], where, "how"),
                sample=file.flag(entry["sample"], where, "sample"),
            )
        )
    return types, services


def _load_opportunities(
    folder: Path, regions: Mapping[str, Region], cities: Mapping[str, City]
) -> tuple[dict[str, Texts], dict[str, Partner], list[Opportunity]]:
    file = _File(folder, OPPORTUNITIES_FILE)
    kinds: dict[str, Texts] = {}
    for index, raw in enumerate(file.section("kinds"), start=1):
        where = _File.label(raw, index, "kind", "code")
        entry = file.entry(raw, where, ("code", "name"))
        code = file.word(entry["code"], where, "code")
        where = f"kind {code}"
        if code in kinds:
            raise file.fail(where, f"duplicate kind {code!r}")
        kinds[code] = file.texts(entry["name"], where, "name")
    partners: dict[str, Partner] = {}
    for index, raw in enumerate(file.section("partners"), start=1):
        where = _File.label(raw, index, "partner", "code")
        entry = file.entry(raw, where, ("code", "name", "for"), ("site",))
        code = file.word(entry["code"], where, "code")
        where = f"partner {code}"
        if code in partners:
            raise file.fail(where, f"duplicate partner {code!r}")
        site = entry.get("site")
        partners[code] = Partner(
            code,
            file.texts(entry["name"], where, "name"),
            file.texts(entry["for"], where, "for"),
            file.word(site, where, "site") if site is not None else None,
        )
    opportunities: list[Opportunity] = []
    seen: set[str] = set()
    for index, raw in enumerate(file.section("opportunities"), start=1):
        where = _File.label(raw, index, "opportunity", "id")
        entry = file.entry(
            raw, where, ("id", "kind", "partner", "region", "title", "how_to_apply", "sample"), ("city",)
        )
        ident = file.word(entry["id"], where, "id")
        where = f"opportunity {ident}"
        file.unique(seen, ident, where, "id")
        kind = file.word(entry["kind"], where, "kind")
        if kind not in kinds:
            raise file.fail(where, f"unknown kind {kind!r} (use one of {', '.join(kinds)})")
        partner = file.word(entry["partner"], where, "partner")
        if partner not in partners:
            raise file.fail(where, f"unknown partner {partner!r} (use one of {', '.join(partners)})")
        region, city = file.region_and_city(entry, where, regions, cities)
        opportunities.append(
            Opportunity(
                id=ident,
                kind=kind,
                partner=partner,
                region=region,
                city=city,
                title=file.texts(entry["title"], where, "title"),
                how_to_apply=file.texts(entry["how_to_apply"], where, "how_to_apply"),
                sample=file.flag(entry["sample"], where, "sample"),
            )
        )
    return kinds, partners, opportunities


def load_facts(folder: Path | None = None) -> Facts:
    """Read and validate the four fact files of ``folder`` (default: this package's folder).

    Raises:
        FactsError: A file is missing or invalid: unknown region, town, type, kind or partner,
            a text without fr or ar, an unknown language tag, a duplicate id or code. The message
            names the file, the entry and the problem. (A spelling that names two places is found
            by `nlu.places`, which matches them.)
    """
    folder = Path(folder) if folder is not None else FACTS_DIR
    regions, cities, place_words = _load_regions(folder)
    numbers, unconfirmed_note, self_harm_first = _load_numbers(folder)
    service_types, services = _load_services(folder, regions, cities)
    kinds, partners, opportunities = _load_opportunities(folder, regions, cities)
    return Facts(
        regions=regions,
        cities=cities,
        numbers=numbers,
        unconfirmed_note=unconfirmed_note,
        self_harm_first=self_harm_first,
        service_types=service_types,
        services=services,
        kinds=kinds,
        partners=partners,
        opportunities=opportunities,
        place_words=place_words,
    )


@functools.lru_cache(maxsize=1)
def default_facts() -> Facts:
    """The shipped facts, loaded and validated once."""
    return load_facts()
