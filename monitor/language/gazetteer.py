"""Every country's names, demonyms and capitals, in English, Russian and Hindi: who a title belongs to.

A news sentence tells a participant's country by an adjective or a name beside their title ("British Prime
Minister", "the President of Ukraine", "китайским коллегой", "भारत के रक्षा मंत्री"), far more often than by a
name a watch list could hold. The gazetteer is built from what the packages ship, offline:

- pycountry: each country's ISO 3166-1 name, common and official names, and their Russian and Hindi
  translations (its gettext catalogues);
- countryinfo: English demonyms ("British"), alternative spellings ("UK") and capitals ("London");
- ``data/countries.toml``: the short forms and adjectives news writes in Russian and Hindi, which neither
  package has (американск*, КНР, अमेरिकी).

``Gazetteer.find(tokens)`` gives term hits whose group is the country's alpha-2 code. Russian and Hindi terms
match inflected forms as every keyword does (monitor.language.stem): Украины finds Украина.
"""

from __future__ import annotations

import gettext
import json
import tomllib
from functools import lru_cache
from importlib import resources
from pathlib import Path

from monitor.language.text import Term, TermHit, TermIndex, Token

# Historical states that news still names, by the code of the country that continues them.
_SUCCESSORS = {"SU": "RU"}


def _countryinfo_rows() -> list[dict]:
    import countryinfo

    folder = Path(countryinfo.__file__).parent / "data"
    rows = []
    for path in sorted(folder.glob("*.json")):
        try:
            rows.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # one unreadable file costs its country, not the gazetteer
    return rows


def country_names() -> dict[str, set[str]]:
    """Every name of every country, by alpha-2 code."""
    import pycountry

    names: dict[str, set[str]] = {}
    catalogues = []
    for language in ("ru", "hi"):
        try:
            catalogues.append(gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language]))
        except OSError:
            continue
    for country in pycountry.countries:
        own = names.setdefault(country.alpha_2, set())
        for attribute in ("name", "common_name", "official_name"):
            value = getattr(country, attribute, None)
            if not value:
                continue
            for text in (value, *(c.gettext(value) for c in catalogues)):
                if "," not in text:  # "Korea, Republic of" is a catalogue's order, not a writer's
                    own.add(text)
    for row in _countryinfo_rows():
        code = (row.get("ISO") or {}).get("alpha2")
        if not code:
            continue
        own = names.setdefault(code, set())
        for value in (row.get("name"), row.get("demonym"), row.get("capital"), *(row.get("altSpellings") or [])):
            # Codes ("GB", "AND" for Andorra) are no words a writer uses: the few that are ("USA", "UAE") are
            # in data/countries.toml.
            if isinstance(value, str) and "," not in value and not (value.isupper() and len(value) <= 3):
                own.add(value)
    extra = tomllib.loads(resources.files("monitor.language").joinpath("data/countries.toml").read_text("utf-8"))
    for by_code in extra.values():
        for code, values in by_code.items():
            names.setdefault(code, set()).update(values)
    for code, own in names.items():
        names[code] = {form for name in own for form in russian_forms(name)}
    for old, new in _SUCCESSORS.items():
        names.setdefault(new, set()).update(names.pop(old, set()))
    return names


# Russian case endings of a noun by its nominative ending: a country name whose stem is too short to be
# trusted (Индия -> инд; monitor.language.stem) matches its declined forms only when they are listed.
_RUSSIAN_CASES = (
    ("ия", ("ии", "ию", "ией")), ("ея", ("еи", "ею", "еей")), ("а", ("ы", "и", "е", "у", "ой")),
    ("я", ("и", "е", "ю", "ей")), ("ь", ("и", "ью")), ("й", ("я", "ю", "е", "ем")),
)


def russian_forms(name: str) -> set[str]:
    """A Russian country name and its declined forms (of its last word): Индия, Индии, Индию, Индией; Китай,
    Китая, Китаю, Китае. Names that do not decline (Перу, Конго) simply gain forms no text has."""
    head, _, last = name.rpartition(" ")
    if not last or not ("\u0400" <= last[-1] <= "\u04ff"):
        return {name}
    prefix = f"{head} " if head else ""
    for ending, cases in _RUSSIAN_CASES:
        if last.endswith(ending):
            return {name, *(prefix + last[: -len(ending)] + case for case in cases)}
    if last[-1] in "бвгджзклмнпрстфхцчшщ":
        return {name, *(prefix + last + case for case in ("а", "у", "е", "ом"))}
    return {name}


class Gazetteer:
    def __init__(self, names: dict[str, set[str]]) -> None:
        terms = [t for code, labels in names.items() for label in sorted(labels)
                 if (t := Term.compile(code, label)) is not None]
        self.index = TermIndex(terms)

    def find(self, toks: list[Token], text: str) -> list[TermHit]:
        """Country names in the tokens of ``text``, longest first where they overlap ("South Korea", not
        "Korea"). A name written in capitals ("US", "UK") matches only in capitals: "us" is a pronoun."""
        hits = sorted(self.index.find(toks), key=lambda h: (h.first_token, -(h.last_token - h.first_token)))
        out: list[TermHit] = []
        for hit in hits:
            if out and hit.first_token <= out[-1].last_token:
                continue
            if hit.term.label.isupper() and not text[hit.start:hit.end].isupper():
                continue
            out.append(hit)
        return out


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    """The process's one gazetteer (built once: a tenth of a second)."""
    return Gazetteer(country_names())
