"""Shared fixtures: databases (SQLite always, PostgreSQL when NEWS_MONITOR_TEST_DATABASE_URL is set),
the shared test data folder, and configs written for a test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.builders import REPO, config_text

SHARED = Path(os.environ.get("NEWS_MONITOR_SHARED", REPO.parent / "shared"))
PG_ENV = "NEWS_MONITOR_TEST_DATABASE_URL"

requires_shared = pytest.mark.skipif(not (SHARED / "data").is_dir(),
                                     reason=f"../shared test data not present at {SHARED}")


@pytest.fixture
def shared_dir() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.skip(f"../shared test data not present at {SHARED}")
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up the developer's own config or database from the environment."""
    for name in ("NEWS_MONITOR_CONFIG", "NEWS_MONITOR_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def _postgres_url(schema: str) -> str:
    base = make_url(os.environ[PG_ENV])
    return base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    if not os.environ.get(PG_ENV):
        pytest.skip(f"{PG_ENV} is not set")
    schema = f"nm_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(os.environ[PG_ENV])
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that takes this runs on SQLite, and on PostgreSQL when its URL is configured."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def write_config(tmp_path: Path, database_url: str) -> Callable[..., Path]:
    """Write a config with the shipped topics, the given feeds, loopback allowed and the test database."""

    def write(feeds: list[dict[str, Any]], *, scheduler: dict[str, Any] | None = None, **network: Any) -> Path:
        path = tmp_path / "monitor.toml"
        path.write_text(config_text(database_url, feeds, scheduler=scheduler, **network), encoding="utf-8")
        return path

    return write
