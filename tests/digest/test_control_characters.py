"""Renderers never crash on text: every control character, lone surrogates and the XML non-characters go
through every format. Atom and HTML replace what XML forbids (so the output parses as XML), the terminal
formats replace controls (an ESC in a title never drives the terminal), and JSON keeps controls escaped."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from monitor.digest.render import to_atom, to_html, to_json, to_markdown, to_text
from monitor.language.text import xml_safe
from tests.digest.test_render import _item, make_digest

CONTROLS = "".join(chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)]) + "\ud800\udfff\ufffe\uffff"
XML_FORBIDDEN = {chr(c) for c in [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xD800, 0xDFFF, 0xFFFE, 0xFFFF]}


def poisoned():
    """Two items: one with every control character in every field of feed text, and a clean one."""
    bad = _item(1, url="https://bad.example/a", outlet=f"bad{CONTROLS}.example", feed=f"feed{CONTROLS}",
                title=f"Modi{CONTROLS}Putin", published="2025-12-05T08:00:00Z", story="s1",
                sentences=[f"Modi met Putin{CONTROLS} in Delhi."], terms=["Modi", "Putin"])
    good = _item(2, url="https://good.example/b", outlet="good.example", feed="good", title="Clean title",
                 published="2025-12-05T09:00:00Z", story="s2", sentences=["Modi met Putin."], terms=["Modi"])
    stories = [{"id": "s1", "title": f"Story{CONTROLS}", "day": "2025-12-05", "items": [0],
                "outlets": [f"bad{CONTROLS}.example"], "feeds": ["f"], "first_published": None, "score": 0.9},
               {"id": "s2", "title": "Clean title", "day": "2025-12-05", "items": [1], "outlets": ["good.example"],
                "feeds": ["good"], "first_published": None, "score": 0.8}]
    return make_digest([bad, good], stories)


def test_atom_replaces_what_xml_forbids_and_keeps_every_entry() -> None:
    body = to_atom(poisoned(), feed_id="urn:x", self_url="http://127.0.0.1/feed.atom")
    assert not XML_FORBIDDEN & set(body)
    root = etree.fromstring(body.encode("utf-8"))  # parses as XML
    titles = [t.text for t in root.iter("{http://www.w3.org/2005/Atom}title")][1:]
    # Replaced first, then whitespace collapsed as for every title: tab and line breaks become one space.
    assert titles == [" ".join(xml_safe(f"Modi{CONTROLS}Putin").split()), "Clean title"]
    assert "\ufffd" in titles[0] and titles[0].startswith("Modi") and titles[0].endswith("Putin")


def test_html_replaces_what_xml_forbids_and_keeps_the_text_around_it() -> None:
    html = to_html(poisoned())
    assert not XML_FORBIDDEN & set(html)
    assert not {chr(c) for c in range(0x7F, 0xA0)} & set(html)
    assert "Modi\ufffd" in html and "Clean title" in html


@pytest.mark.parametrize("render", [to_text, to_markdown], ids=["text", "markdown"])
def test_terminal_formats_carry_no_control_character(render) -> None:
    out = render(poisoned())
    assert not ({chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]} - {"\n", "\t"}) & set(out)
    assert "\x1b" not in out  # an escape sequence in a title cannot recolour or clear the terminal
    assert "Clean title" in out
    out.encode("utf-8")  # no lone surrogate left to fail the write


def test_json_keeps_control_characters_and_replaces_lone_surrogates() -> None:
    out = to_json(poisoned())
    out.encode("utf-8")
    title = json.loads(out)["items"][0]["title"]
    assert title == "Modi" + CONTROLS.replace("\ud800", "\ufffd").replace("\udfff", "\ufffd") + "Putin"
