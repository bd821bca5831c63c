"""The review page answers only to the names in ``[web] allowed_hosts``: a DNS-rebinding page, whose own
name resolves to 127.0.0.1, can neither read /api/mentions nor write through the page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from monitor.config import config_from_dict
from monitor.web.app import create_app
from monitor.web.auth import host_allowed
from tests.builders import config_for
from tests.seeding import Story, open_seeded

DEFAULT = ["127.0.0.1", "localhost", "[::1]"]
TEXT = "Prime Minister Modi met President Putin in New Delhi for the annual summit."


@pytest.mark.parametrize(("header", "allowed"), [
    ("127.0.0.1:8080", True), ("127.0.0.1", True), ("localhost:8080", True), ("LOCALHOST", True),
    ("[::1]:8080", True), ("[::1]", True), ("localhost.:8080", True),
    ("attacker.example:8080", False), ("attacker.example", False), ("127.0.0.1.attacker.example", False),
    ("", False), ("[::1", False), ("[::1]x", False), ("127.0.0.1:80x", False), ("::1", False),
    ("localhost@attacker.example", False),
])
def test_host_allowed_with_the_defaults(header: str, allowed: bool) -> None:
    assert host_allowed(header, DEFAULT) is allowed


def test_wildcards_allow_subdomains_or_every_name() -> None:
    assert host_allowed("news.example.org", ["*.example.org"])
    assert host_allowed("a.b.example.org:443", ["*.example.org"])
    assert not host_allowed("example.org.attacker.example", ["*.example.org"])
    assert not host_allowed("badexample.org", ["*.example.org"])
    assert host_allowed("anything.example", ["*"])


def test_the_default_list_is_the_bound_host_loopback_names_and_base_url(tmp_path: Path) -> None:
    config = config_from_dict({"web": {"host": "192.0.2.10", "base_url": "https://news.example.org/monitor"}},
                              source=tmp_path / "monitor.toml")
    assert config.web.hosts_allowed() == ["192.0.2.10", "localhost", "127.0.0.1", "[::1]", "news.example.org"]
    v6 = config_from_dict({"web": {"host": "::1"}}, source=tmp_path / "monitor.toml")
    assert v6.web.hosts_allowed() == ["[::1]", "localhost", "127.0.0.1"]
    chosen = config_from_dict({"web": {"allowed_hosts": ["News.Example.org"]}}, source=tmp_path / "monitor.toml")
    assert chosen.web.hosts_allowed() == ["news.example.org"]


@pytest.fixture
def seeded_config(tmp_path: Path) -> Iterator[tuple]:
    config = config_for(f"sqlite:///{tmp_path / 'log.sqlite3'}", tmp_path)
    log = open_seeded(config, [Story("summit", "Modi meets Putin", TEXT)])
    try:
        yield config, log
    finally:
        log.close()


@pytest.mark.parametrize("path", ["/", "/api/mentions", "/feed.atom", "/healthz", "/metrics"])
def test_a_foreign_host_gets_400_on_every_route(seeded_config: tuple, path: str) -> None:
    config, log = seeded_config
    with TestClient(create_app(config, log=log), base_url="http://rebind.attacker.example:8080") as client:
        response = client.get(path)
        assert response.status_code == 400
        assert "Modi" not in response.text
        assert response.headers["content-security-policy"].startswith("default-src 'none'")


def test_a_foreign_host_cannot_write(seeded_config: tuple) -> None:
    config, log = seeded_config
    before = log.last_position()
    with TestClient(create_app(config, log=log), base_url="http://rebind.attacker.example:8080") as client:
        assert client.post("/api/review", json={"all": True}).status_code == 400
        assert client.post("/review", data={"all": "1"}).status_code == 400
    assert log.last_position() == before


def test_the_bound_host_and_the_loopback_names_are_served(seeded_config: tuple) -> None:
    config, log = seeded_config
    app = create_app(config, log=log)
    for base in ("http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"):
        with TestClient(app, base_url=base) as client:
            response = client.get("/api/mentions")
            assert response.status_code == 200, base
            assert [item["title"] for item in response.json()["items"]] == ["Modi meets Putin"]


def test_allowed_hosts_replaces_the_default(tmp_path: Path, seeded_config: tuple) -> None:
    config, log = seeded_config
    custom = config.model_copy(update={"web": config.web.model_copy(update={"allowed_hosts": ["news.example.org"]})})
    app = create_app(custom, log=log)
    with TestClient(app, base_url="http://news.example.org") as client:
        assert client.get("/api/mentions").status_code == 200
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        assert client.get("/api/mentions").status_code == 400
