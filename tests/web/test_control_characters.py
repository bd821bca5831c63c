"""One control character in one title (valid in JSON Feed) breaks neither the review page nor /feed.atom."""

from __future__ import annotations

from pathlib import Path

import feedparser
from fastapi.testclient import TestClient
from lxml import etree

from monitor.web.app import create_app
from tests.builders import config_for
from tests.seeding import Story, open_seeded

TITLE = "Modi\x01and Putin\x1b[2J meet"
TEXT = "Prime Minister Modi met President Putin in New Delhi for the annual summit. They signed pacts."


def test_a_title_with_control_characters_breaks_neither_the_page_nor_the_atom_feed(tmp_path: Path) -> None:
    config = config_for(f"sqlite:///{tmp_path / 'log.sqlite3'}", tmp_path)
    log = open_seeded(config, [Story("odd", TITLE, TEXT), Story("plain", "Modi and Putin sign pacts", TEXT)])
    try:
        with TestClient(create_app(config, log=log), base_url="http://127.0.0.1:8080") as client:
            atom = client.get("/feed.atom")
            assert atom.status_code == 200
            etree.fromstring(atom.content)  # well-formed XML
            titles = [entry.title for entry in feedparser.parse(atom.content).entries]
            assert sorted(titles) == ["Modi and Putin sign pacts", "Modi\ufffdand Putin\ufffd[2J meet"]

            page = client.get("/")
            assert page.status_code == 200
            assert "\x01" not in page.text and "\x1b" not in page.text
            assert "Modi\ufffdand Putin" in page.text and "Modi and Putin sign pacts" in page.text
    finally:
        log.close()
