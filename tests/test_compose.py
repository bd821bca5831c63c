"""docker-compose.yml and the Dockerfile (Docker does not run here, so they are checked as files): valid by the
compose specification's JSON schema, a healthcheck on every service, every named volume declared."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import jsonschema
import yaml

REPO = Path(__file__).resolve().parents[1]


def compose_schema() -> dict:
    """The compose specification's schema (compose-spec/compose-spec, Apache-2.0), as check-jsonschema vendors
    it: nothing is fetched at test time."""
    return json.loads((files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text("utf-8"))


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_file_is_valid_by_the_compose_specification() -> None:
    schema = compose_schema()
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []
    # The schema does reject what is not compose: a misspelt key fails it.
    broken = compose()
    broken["services"]["monitor"]["healthchek"] = broken["services"]["monitor"].pop("healthcheck")
    assert list(validator.iter_errors(broken))


def test_every_service_has_a_healthcheck_and_every_volume_is_declared() -> None:
    document = compose()
    declared = set(document.get("volumes") or {})
    for name, service in document["services"].items():
        check = service.get("healthcheck")
        assert check and not check.get("disable") and check["test"], name
        for volume in service.get("volumes", []):
            source = (volume["source"] if isinstance(volume, dict) else volume.split(":")[0])
            if not source.startswith((".", "/", "~")):  # a named volume, not a bind mount
                assert source in declared, (name, source)
    for name in ("monitor", "worker", "web"):
        test = document["services"][name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "news-monitor", "health"], name  # the image has no curl: our own command


def test_compose_keeps_data_and_digests_in_a_named_volume_and_config_writable() -> None:
    services = compose()["services"]
    monitor = services["monitor"]
    assert "data:/app/data" in monitor["volumes"]  # the SQLite default and data/digests (the digest's output_dir)
    assert "data:/app/data" in services["worker"]["volumes"]  # the digests a worker issues
    for name in ("monitor", "worker", "web", "migrate"):
        (config,) = [v for v in services[name]["volumes"] if v.split(":")[1] == "/app/config"]
        assert not config.endswith(":ro"), name  # keywords add / feeds add edit it in place


def test_dockerignore_keeps_the_venv_and_data_out_of_the_build_context() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", ".git", "data"} <= ignored
    dockerfile = (REPO / "Dockerfile").read_text()
    for needed in ("pyproject.toml", "README.md", "monitor", "storage", "config"):  # what the build copies
        assert needed not in ignored and needed in dockerfile


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


def test_workers_scale_and_never_start_beside_the_run_daemon_by_default() -> None:
    """`docker compose up --scale worker=3`: the worker service has no fixed name or port (it scales), runs
    `news-monitor worker`, and the `run` daemon (which would refuse beside workers) is off by default."""
    services = compose()["services"]
    worker = services["worker"]
    assert worker["command"] == ["news-monitor", "worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert {"postgres", "migrate"} <= set(worker["depends_on"])
    assert services["monitor"]["profiles"] == ["embedded"]
    assert not any("profiles" in services[name] for name in ("postgres", "migrate", "web", "worker"))
