"""Story grouping: rewrites of one event by different outlets group; other events on the same actors don't.

The articles below were written for these tests: one summit outcome told three ways (a wire report, an
analysis piece, a short local item: same date, place, figures and names, different words and order),
and a different story about the same people in the same week.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from pathlib import Path

import pytest

from monitor.digest.stories import StoryDoc, group_stories
from tests.builders import REPO

UTC = dt.UTC
FRIDAY = dt.datetime(2025, 12, 5, 14, 0, tzinfo=UTC)

WIRE = StoryDoc(
    "India and Russia set $100 billion trade goal as Modi hosts Putin in New Delhi",
    """NEW DELHI, Dec 5 (Wire) — Prime Minister Narendra Modi and President Vladimir Putin agreed on Friday to lift
trade between India and Russia to $100 billion a year by 2030, adopting an economic cooperation programme that runs
to the end of the decade, at their annual summit at Hyderabad House.

The two leaders oversaw the exchange of 16 agreements and memoranda covering labour mobility, fertilisers,
shipping, healthcare and customs. One pact will let Indian workers take up jobs in Russia under a regulated
scheme, while another commits Russian and Indian firms to build a urea plant together.

"Our friendship has stood firm like the Pole Star through every storm," Modi told reporters after the talks,
which lasted nearly three hours. Putin said Russia would keep fuel supplies to India uninterrupted and invited
Indian companies to use the Northern Sea Route.

Modi announced that Russian citizens would receive 30-day e-tourist visas free of charge, and the sides agreed to
speed up work on the Chennai-Vladivostok maritime corridor. Bilateral trade reached about $68.7 billion in the last
financial year, most of it Indian purchases of Russian crude, leaving New Delhi with a wide deficit it hopes to
narrow by selling more pharmaceuticals, machinery and farm goods.

The summit, the 23rd of its kind, was Putin's first visit to India since 2021. He arrived on Thursday evening and
was received at the airport by Modi, who hosted a private dinner at his residence.

Officials said defence did not feature among the signed documents, although the leaders discussed the delivery of
the remaining S-400 air defence squadrons.""",
    FRIDAY,
)

ANALYSIS = StoryDoc(
    "Putin's Delhi visit: a 2030 roadmap, visa-free tourism and a $100bn trade target",
    """Vladimir Putin wrapped up his two-day state visit to India on 5 December with a package of 16 documents and a
promise from both governments to almost double bilateral commerce, to 100 billion dollars, by 2030.

Talks between the Russian president and Prime Minister Narendra Modi at Hyderabad House ran for close to three
hours, officials said. Afterwards the two men endorsed a programme of economic cooperation through 2030, the
centrepiece of a visit that Moscow had billed as a signal that its ties with New Delhi survive Western pressure.

Among the agreements is a labour-mobility deal that opens the Russian job market to Indian workers, an accord on
a joint venture to produce urea, and memoranda on ports, shipping and health care.

Modi used his press statement to describe the partnership as a "Pole Star" that had held steady for decades. He
also said India would grant free 30-day e-tourist visas to Russian nationals.

Putin, for his part, promised "uninterrupted" deliveries of fuel to India despite US sanctions on Russian oil
companies, and talked up cargo on the Northern Sea Route and the sea link between Chennai and Vladivostok.

Trade between the two countries stood at roughly $68.7 billion last year and is heavily tilted in Russia's favour
because of crude oil. Indian officials want to close that gap with exports of medicines, engineering goods and
food.

It was the 23rd India-Russia annual summit and Putin's first trip to New Delhi in four years. No defence
agreements were announced, though the S-400 deliveries came up in the talks.""",
    FRIDAY + dt.timedelta(hours=6),
)

LOCAL = StoryDoc(
    "Modi, Putin sign 16 pacts; free e-visa for Russian tourists announced",
    """New Delhi: India and Russia on Friday signed 16 agreements after summit-level talks between PM Narendra Modi
and President Vladimir Putin, and set a bilateral trade target of USD 100 billion by 2030.

Putin, who landed in the capital on Thursday for his first visit since 2021, held close to three hours of talks
with Modi at Hyderabad House. The documents include a pact on the migration and mobility of workers, a joint urea
production project and cooperation in shipping and healthcare.

Calling the ties with Moscow "steady like the Pole Star", the Prime Minister announced a free-of-cost 30-day
e-tourist visa for Russian citizens. The leaders also adopted a programme for the development of strategic areas of
economic cooperation until 2030.

The Russian President assured India of uninterrupted fuel shipments and pushed for faster work on the
Chennai-Vladivostok sea corridor. Two-way trade was about USD 68.7 billion in 2024-25. This was the 23rd annual
summit between the two countries.""",
    FRIDAY + dt.timedelta(days=1),
)

OIL = StoryDoc(  # the same people, place and week: a different event
    "India's Russian oil imports slip as US sanctions bite, but Putin vows steady supplies",
    """NEW DELHI, Dec 4 (Wire) — India's purchases of Russian crude fell to about 1.2 million barrels per day in
November, the lowest in a year, after US sanctions on Rosneft and Lukoil pushed refiners such as Reliance Industries
to suspend some contracts, ship-tracking data from Kpler showed.

State-run Indian Oil Corp and Bharat Petroleum kept buying from suppliers that are not under sanctions, traders
said, and discounts on Urals cargoes widened to more than $5 a barrel against Brent.

Putin, speaking in an interview broadcast hours before he landed in New Delhi for talks with Prime Minister
Narendra Modi, said Russia was ready to keep supplying fuel to India without interruption and accused Washington
of using tariffs to push India away from a reliable partner.

Analysts expect imports to recover to about 1.5 million barrels per day by February as traders find new payment
routes and vessels. Russia supplied roughly 35 percent of India's crude imports in the last financial year, up
from less than 2 percent before 2022.

Indian officials have said the country buys oil wherever it is cheapest and that its energy security comes first.
The US doubled tariffs on Indian goods to 50 percent in August, citing the oil purchases.""",
    FRIDAY - dt.timedelta(hours=20),
)


# A shorter story told twice (ministers' talks before the summit): fewer words to go on.
MINISTERS_WIRE = StoryDoc(
    "Jaishankar, Lavrov prepare Putin's India visit in Moscow talks",
    """MOSCOW, Nov 17 (Wire) — External Affairs Minister S. Jaishankar held talks with Russian Foreign Minister
Sergey Lavrov in Moscow on Monday, three weeks before President Vladimir Putin travels to New Delhi for the annual
summit. The ministers reviewed preparations for the visit, including an agreement on the mobility of skilled
workers and a plan to settle more trade in rupees and roubles.

Jaishankar said India wanted to address a trade deficit of nearly $59 billion and pressed for access for Indian
pharmaceuticals and farm produce. Lavrov said Moscow valued New Delhi's "independent" foreign policy and briefed
his counterpart on contacts with the United States over Ukraine. The two also discussed the Shanghai Cooperation
Organisation, BRICS, which India chairs in 2026, and the situation in Afghanistan.""",
    dt.datetime(2025, 11, 17, 15, 0, tzinfo=UTC),
)

MINISTERS_DAILY = StoryDoc(
    "Rupee-rouble trade, worker mobility on table as Jaishankar meets Lavrov",
    """India's foreign minister Subrahmanyam Jaishankar and his Russian counterpart Sergei Lavrov met on 17 November in
the Russian capital to lay the groundwork for Putin's December trip to India. Settlements in rupees and roubles and
a deal on labour mobility were on the table, Indian officials said.

Jaishankar raised the trade imbalance, close to 59 billion dollars in Russia's favour, and sought easier entry for
Indian medicines and agricultural goods. Lavrov praised India's independent line in world affairs and updated
Jaishankar on Moscow's dialogue with Washington about Ukraine. Afghanistan, the Shanghai Cooperation Organisation
and BRICS, which India will chair next year, were also discussed.""",
    dt.datetime(2025, 11, 18, 8, 0, tzinfo=UTC),
)


def test_three_rewrites_of_one_story_and_another_story_on_the_same_actors_make_two_groups() -> None:
    assert group_stories([WIRE, OIL, ANALYSIS, LOCAL]) == [[0, 2, 3], [1]]


def test_order_does_not_matter() -> None:
    assert group_stories([OIL, LOCAL, WIRE, ANALYSIS]) == [[0], [1, 2, 3]]



def test_shorter_rewrites_group_and_stay_apart_from_other_stories_even_in_a_wide_window() -> None:
    docs = [WIRE, MINISTERS_WIRE, OIL, MINISTERS_DAILY, ANALYSIS, LOCAL]
    assert group_stories(docs, window_days=30) == [[0, 4, 5], [1, 3], [2]]


def test_the_terms_the_tagger_matched_leave_the_groups_as_they_are() -> None:
    """The digest passes each item's matched topic terms: they are left out of the comparison."""
    from monitor.config import load_config
    from monitor.tagging.rules import Tagger

    tagger = Tagger(load_config(REPO / "config" / "monitor.toml"))
    docs = []
    for doc in [WIRE, MINISTERS_WIRE, OIL, MINISTERS_DAILY, ANALYSIS, LOCAL]:
        terms = tuple(t for result in tagger.tag(doc.title, doc.text, doc.published_at).values() for t in result.terms)
        docs.append(dataclasses.replace(doc, terms=terms))
    assert any("Putin" in doc.terms for doc in docs)
    assert group_stories(docs, window_days=30) == [[0, 4, 5], [1, 3], [2]]

def test_a_near_copy_with_another_boilerplate_header_groups() -> None:
    header = ("Subscribe to our newsletter for the day's top stories. Follow us on social media. "
              "This article was syndicated from a news agency feed and has not been edited by our staff.\n\n")
    copy = StoryDoc(WIRE.title + " | Daily Courier", header + WIRE.text, FRIDAY + dt.timedelta(hours=2))
    assert group_stories([WIRE, OIL, copy]) == [[0, 2], [1]]


def test_items_far_apart_in_time_do_not_group() -> None:
    late = StoryDoc(LOCAL.title, LOCAL.text, FRIDAY + dt.timedelta(days=30))
    assert group_stories([WIRE, late]) == [[0], [1]]
    assert group_stories([WIRE, late], window_days=40) == [[0, 1]]


def test_unknown_dates_have_no_time_limit() -> None:
    undated = StoryDoc(ANALYSIS.title, ANALYSIS.text, None)
    assert group_stories([WIRE, undated]) == [[0, 1]]


def test_naive_and_aware_dates_mix() -> None:
    naive = StoryDoc(LOCAL.title, LOCAL.text, dt.datetime(2025, 12, 6, 9, 0))
    assert group_stories([WIRE, naive]) == [[0, 1]]


def test_empty_texts_and_empty_input() -> None:
    assert group_stories([]) == []
    assert group_stories([StoryDoc("", "", None)]) == [[0]]
    assert group_stories([StoryDoc("", "", None), StoryDoc("", "", None), WIRE]) == [[0], [1], [2]]
    headline = StoryDoc("Putin kicks off two-day India visit", "", FRIDAY)
    assert group_stories([headline, StoryDoc("", "", FRIDAY)]) == [[0], [1]]


def test_headlines_sharing_only_the_topic_words_do_not_group() -> None:
    docs = [
        StoryDoc("Putin, Modi hold talks on India-Russia ties", "", FRIDAY),
        StoryDoc("India, Russia: Modi and Putin discuss oil trade", "", FRIDAY),
        StoryDoc("Modi says India-Russia partnership with Putin steady", "", FRIDAY),
    ]
    assert group_stories(docs) == [[0], [1], [2]]


def test_every_index_once_groups_sorted_and_ordered_by_first_index() -> None:
    docs = [OIL, WIRE, StoryDoc("Mumbai metro opens new line", "Commuters rode the new line on Monday.", FRIDAY),
            LOCAL, ANALYSIS]
    groups = group_stories(docs)
    assert sorted(i for g in groups for i in g) == list(range(len(docs)))
    assert all(g == sorted(g) for g in groups)
    assert [g[0] for g in groups] == sorted(g[0] for g in groups)
    assert [1, 3, 4] in groups


def test_five_hundred_documents_are_each_in_exactly_one_story() -> None:
    """Scale, not speed: speed is benchmarks/stories.py's to measure (a timed test fails on a busy machine)."""
    rng = random.Random(7)
    words = (WIRE.text + OIL.text + ANALYSIS.text).split()
    docs = []
    for _ in range(500):
        body = " ".join(rng.choice(words) for _ in range(rng.randint(20, 600)))
        docs.append(StoryDoc(" ".join(rng.choice(words) for _ in range(8)), body,
                             FRIDAY + dt.timedelta(hours=rng.randint(0, 24 * 14))))
    for i in range(0, 500, 50):  # some real stories among the noise
        docs[i] = [WIRE, ANALYSIS, LOCAL, OIL][i // 50 % 4]
    groups = group_stories(docs)
    assert sorted(i for g in groups for i in g) == list(range(500))


# --- real items: ../shared/data/articles/dev.jsonl (TASS headlines with the first 60 characters of the story,
# and machine-rewritten full texts), read at test time.

def _dev_docs(shared_dir: Path) -> tuple[list[dict], list[StoryDoc]]:
    rows = [json.loads(line) for line in (shared_dir / "data" / "articles" / "dev.jsonl").open(encoding="utf-8")]
    docs = []
    for row in rows:
        try:
            published = dt.datetime.fromisoformat(row["date"]).replace(tzinfo=UTC)
        except ValueError:
            published = None
        docs.append(StoryDoc(row["title"], row["text"], published))
    return rows, docs


def _group_of(groups: list[list[int]], index: int) -> list[int]:
    return next(g for g in groups if index in g)


def test_dev_items_same_event_groups_and_other_events_on_the_same_actors_do_not(shared_dir: Path) -> None:
    rows, docs = _dev_docs(shared_dir)
    by_title = {row["title"]: i for i, row in enumerate(rows)}
    lavrov_talks = [by_title["Lavrov to hold talks with Indian Foreign Minister in Moscow — Russian diplomat"],
                    by_title["Lavrov to hold talks with top Indian diplomat in Moscow"]]
    summit_prep = by_title["Putin to make state visit to India on December 4-5 — Kremlin"]
    oil = by_title["Russia remains a reliable and profitable energy supplier to India — Kremlin"]
    groups = group_stories(docs)
    assert sorted(i for g in groups for i in g) == list(range(len(docs)))
    # The announcement of the Jaishankar-Lavrov talks, reported on the 14th and again on the 17th: one story.
    assert lavrov_talks[1] in _group_of(groups, lavrov_talks[0])
    # The summit preparations and the oil story share the actors, not the event.
    for a, b in [(lavrov_talks[0], summit_prep), (lavrov_talks[0], oil), (summit_prep, oil)]:
        assert b not in _group_of(groups, a), (rows[a]["title"], rows[b]["title"])
    # Different events overall: the full texts are each about their own event.
    full = [i for i, row in enumerate(rows) if row["text_kind"].startswith("full_text")]
    assert all(len(_group_of(groups, i)) == 1 for i in full)


@pytest.mark.parametrize("window", [0.5, 3.0])
def test_dev_items_headlines_do_not_chain_into_one_topic_blob(shared_dir: Path, window: float) -> None:
    rows, docs = _dev_docs(shared_dir)
    headlines = [i for i, row in enumerate(rows) if row["text_kind"].startswith("headline")]
    groups = group_stories([docs[i] for i in headlines], window_days=window)
    assert max(len(g) for g in groups) <= 4
    assert len(groups) >= len(headlines) * 0.8


@pytest.mark.parametrize(("num_perm", "step"), [(16, 0.1), (64, 0.05), (128, 0.1)])
def test_the_lsh_bands_and_rows_are_datasketchs(num_perm: int, step: float) -> None:
    """Computed without scipy (datasketch integrates with scipy.integrate.quad; the daemon imports neither)."""
    from datasketch import MinHashLSH
    from datasketch.lsh import _optimal_param  # what MinHashLSH calls, which refuses a choice of one band

    from monitor.digest.stories import COPY_JACCARD, NUM_PERM, _lsh_params

    probe = MinHashLSH(threshold=COPY_JACCARD, num_perm=NUM_PERM)
    assert _lsh_params() == (probe.b, probe.r)
    for k in range(1, round(1 / step)):
        assert _lsh_params(step * k, num_perm) == _optimal_param(step * k, num_perm, 0.5, 0.5), step * k
