"""Titles are what the feed declares, read once: text stays text, HTML loses its markup, and a character
reference no text can hold becomes U+FFFD instead of failing the feed. Documents are invented inline."""

from __future__ import annotations

import pytest

from monitor.ingest.parse import parse_feed

URL = "http://127.0.0.1/feed.xml"


def rss_title(title: str) -> str:
    document = (f'<rss version="2.0"><channel><title>t</title><item><title>{title}</title>'
                "<link>http://127.0.0.1/a</link></item></channel></rss>")
    (entry,) = parse_feed(document.encode(), URL).entries
    return entry.title


def atom_title(element: str) -> str:
    document = (f'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry>{element}<id>urn:x</id>'
                '<link href="http://127.0.0.1/a"/></entry></feed>')
    (entry,) = parse_feed(document.encode(), URL).entries
    return entry.title


def test_an_escaped_angle_bracket_in_a_text_title_is_text_not_a_tag() -> None:
    # RFC 4287 §3.1.1.1: type="text" content is text; "&lt;gorilla&gt;" is the five characters "<gorilla>".
    assert atom_title('<title type="text">Nice &lt;gorilla&gt;</title>') == "Nice <gorilla>"
    assert atom_title("<title>Nice &lt;gorilla&gt; &amp;amp; more</title>") == "Nice <gorilla> &amp; more"
    assert rss_title("Nice &lt;gorilla&gt;") == "Nice <gorilla>"


def test_an_html_title_loses_its_markup_once() -> None:
    assert atom_title('<title type="html">Talks &lt;b&gt;resume&lt;/b&gt; &amp;amp; go on</title>') == \
        "Talks resume & go on"


@pytest.mark.parametrize("reference", ["&#xD800;", "&#xdfff;", "&#55296;", "&#x110000;", "&#99999999999;",
                                       "&#x0000000000D800;"])
def test_a_reference_no_text_can_hold_becomes_the_replacement_character(reference: str) -> None:
    assert rss_title(f"Summit{reference} talks") == "Summit\ufffd talks"
    assert atom_title(f"<title>Summit{reference} talks</title>") == "Summit\ufffd talks"


def test_references_to_real_characters_are_left_alone() -> None:
    assert rss_title("Saint &#x1F600; &#65;&#0066;") == "Saint \U0001F600 AB"
