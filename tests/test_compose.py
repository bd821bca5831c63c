"""docker-compose.yml and the Dockerfile (Docker does not run here, so they are checked as files)."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_compose_has_postgres_with_healthcheck_and_the_daemon() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    postgres, monitor = services["postgres"], services["monitor"]
    image, _, version = postgres["image"].partition(":")
    assert image == "postgres" and int(version.split("-")[0].split(".")[0]) >= 15
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]

    assert monitor["build"] in (".", {"context": "."})
    command = monitor["command"]
    assert (command if isinstance(command, str) else " ".join(command)) == "news-monitor run"
    env = monitor["environment"]
    assert env["NEWS_MONITOR_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["NEWS_MONITOR_DATABASE_URL"]
    assert monitor["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert any(v.split(":")[1] == "/app/config" for v in monitor["volumes"])
    assert env["NEWS_MONITOR_CONFIG"].startswith("/app/config/")


def test_compose_migrates_postgresql_before_the_daemon_starts() -> None:
    """PostgreSQL schemas are upgraded explicitly (the daemon does not migrate them by itself)."""
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    migrate, monitor = services["migrate"], services["monitor"]
    assert " ".join(migrate["command"]) == "news-monitor db upgrade"
    assert migrate["environment"]["NEWS_MONITOR_DATABASE_URL"] == monitor["environment"]["NEWS_MONITOR_DATABASE_URL"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert monitor["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_serves_the_review_page_on_loopback_only() -> None:
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    web, monitor = services["web"], services["monitor"]
    assert web["command"][:2] == ["news-monitor", "serve"]
    assert web["environment"]["NEWS_MONITOR_DATABASE_URL"] == monitor["environment"]["NEWS_MONITOR_DATABASE_URL"]
    assert all(port.startswith("127.0.0.1:") for port in web["ports"])  # never published on every interface
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_dockerfile_installs_the_project_and_runs_the_daemon() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "pip install ." in dockerfile
    assert 'ENTRYPOINT ["news-monitor"]' in dockerfile and 'CMD ["run"]' in dockerfile
