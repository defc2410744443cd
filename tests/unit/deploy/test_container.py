"""The Dockerfile, deploy/compose.yaml and the monitoring files agree with the code and with each
other: commands the CLI has, variables that are settings (with values they accept), ports that
meet, health checks that parse, files that exist.

Why: no container runtime runs here, so a typo in these files would surface only on someone
else's `docker compose up` (docs/deploy.md says what was not exercised).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from tarif_cli.health import target
from tarif_cli.main import parser
from tarif_common.lifecycle import split_addr
from tarif_common.settings import Settings
from tests.build_context import REPO, context_files

DEPLOY = REPO / "deploy"
TARIF_SERVICES = {"migrate", "engine", "batch", "admin", "demo"}
CONTINUED = "\\"  # a line ending so continues the instruction on the next one
DEFAULT = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


# --- reading the files ---------------------------------------------------------------------------


def instructions(dockerfile: Path = REPO / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or not line:
            continue
        pending = f"{pending} {line.removesuffix(CONTINUED).strip()}".strip()
        if not line.endswith(CONTINUED):
            keyword, _, rest = pending.partition(" ")
            found.append((keyword.upper(), rest.strip()))
            pending = ""
    return found


def stages() -> list[list[tuple[str, str]]]:
    split: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            split.append([])
        if split:
            split[-1].append((keyword, rest))
    return split


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in stage:
        if keyword == "ENV":
            env |= dict(pair.split("=", 1) for pair in rest.split())
    return env


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def defaults(value: Any) -> str:
    """A compose value with every `${VAR:-default}` as its default."""
    return DEFAULT.sub(lambda m: m.group(2) or "", str(value))


def service_env(service: dict[str, Any]) -> dict[str, str]:
    return {name: defaults(value) for name, value in (service.get("environment") or {}).items()}


def setting_names() -> set[str]:
    """Every environment variable Settings reads."""
    names = set()
    for name, field in Settings.model_fields.items():
        aliases = getattr(field.validation_alias, "choices", None)
        names |= {str(a).upper() for a in aliases} if aliases else {f"TARIF_{name.upper()}"}
    return names


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings read from exactly `env` (the variables of the test's own environment cleared)."""
    with monkeypatch.context() as patch:
        for name in setting_names():
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        return Settings()


def cli(argv: list[str]) -> Any:
    """The CLI's parse of `argv` (argparse exits on a command it does not have)."""
    args = parser().parse_args(argv)
    assert callable(args.func), argv
    return args


# --- the image -------------------------------------------------------------------------------


def test_the_image_builds_the_wheel_in_one_stage_and_runs_it_as_a_user() -> None:
    build, runtime = stages()
    assert build[0][1].endswith(" AS build")
    assert runtime[0][1].endswith(" AS runtime")
    runs = " ".join(rest for keyword, rest in build if keyword == "RUN")
    assert "deploy/build-wheel.sh /wheels" in runs  # the script tests/e2e runs too
    script = REPO / "deploy" / "build-wheel.sh"
    assert script.is_file()
    assert script.stat().st_mode & 0o111
    [user] = [rest for keyword, rest in runtime if keyword == "USER"]
    arguments = dict(rest.split("=") for keyword, rest in runtime if keyword == "ARG")
    assert user == "${UID}:${UID}"
    assert int(arguments["UID"]) > 0
    # nothing of the sources in the final stage but the wheels and the examples
    copies = [rest for keyword, rest in runtime if keyword == "COPY"]
    assert copies == ["--from=build /src/examples/ /usr/share/tarif/examples/"]
    assert "--no-index --find-links=/wheels tarif" in " ".join(r for k, r in runtime if k == "RUN")


def test_the_image_commands_and_health_check_are_the_clis(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = stages()[-1]
    found = dict(runtime)
    assert json.loads(found["ENTRYPOINT"]) == ["tarif"]
    assert cli(json.loads(found["CMD"])).command == "engine"
    options, _, command = found["HEALTHCHECK"].partition("CMD ")
    assert "--timeout=" in options
    assert "--interval=" in options
    health = json.loads(command)
    assert health[0] == "tarif"
    args = cli(health[1:])
    env = env_of(runtime)
    assert set(env) - {"PYTHONUNBUFFERED"} <= setting_names()
    settings = settings_from({k: v for k, v in env.items() if k.startswith("TARIF_")}, monkeypatch)
    assert target(settings, args) == ("grpc", "127.0.0.1:50051")  # the wildcard, dialled locally
    addrs = [settings.grpc_addr, settings.metrics_addr, settings.batch_metrics_addr]
    ports = {split_addr(addr)[1] for addr in [*addrs, settings.admin_addr]}
    assert {int(p) for p in found["EXPOSE"].split()} == ports


def test_the_build_context_holds_what_the_build_needs() -> None:
    files = set(context_files())
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    wanted = {"pyproject.toml", pyproject["project"]["readme"], "deploy/build-wheel.sh"}
    wanted |= {"examples/demo.yaml", "tarif_cli/demo.yaml"}
    wanted |= {p.relative_to(REPO).as_posix() for p in (REPO / "proto").rglob("*.proto")}
    assert wanted <= files
    packages = [
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    for package in packages:
        if package != "tarif":  # generated in the build stage
            assert f"{package}/__init__.py" in files, package
    # the generated code is made anew, never copied in stale; no venv, state or tests
    assert not {
        f for f in files if f.split("/")[0] in ("tarif", ".venv", ".state", "tests", ".git")
    }
    assert not {f for f in files if "__pycache__" in f or f.endswith(".pyc")}


# --- compose ---------------------------------------------------------------------------------


def test_compose_runs_every_process_with_its_servers_and_monitoring() -> None:
    services = compose()["services"]
    assert set(services) == TARIF_SERVICES | {"redis", "postgres", "prometheus", "grafana"}
    redis = [defaults(part) for part in services["redis"]["command"]]
    assert redis[redis.index("--appendonly") + 1] == "yes"
    assert redis[redis.index("--appendfsync") + 1] == "everysec"
    for name in TARIF_SERVICES:
        assert services[name]["build"] == {"context": "..", "dockerfile": "Dockerfile"}
        assert (DEPLOY / services[name]["build"]["context"] / "Dockerfile").is_file()


def test_compose_commands_variables_and_health_checks_are_real(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = compose()["services"]
    known = setting_names()
    for name in TARIF_SERVICES:
        service = services[name]
        args = cli(service["command"])
        env = service_env(service)
        assert set(env) <= known, (name, set(env) - known)
        settings = settings_from(env, monkeypatch)
        assert settings.redis_url
        assert settings.database_url
        check = service["healthcheck"]
        if check.get("disable"):
            assert service["restart"] == "no", name  # a one-shot command
            continue
        assert check["test"][:2] == ["CMD", "tarif"]
        health = cli(check["test"][2:])
        assert health.target == name
        # the health check asks the port the process listens on
        _, where = target(settings, health)
        listening = {
            "engine": settings.grpc_addr,
            "batch": settings.batch_metrics_addr,
            "admin": settings.admin_addr,
        }[args.command]
        assert split_addr(listening)[0] == "0.0.0.0", name
        assert f"127.0.0.1:{split_addr(listening)[1]}" in where, (name, where)


def test_compose_order_of_start(monkeypatch: pytest.MonkeyPatch) -> None:
    services = compose()["services"]
    for name, service in services.items():
        for needed, how in (service.get("depends_on") or {}).items():
            assert needed in services, (name, needed)
            condition = how["condition"]
            if condition == "service_healthy":
                assert not services[needed]["healthcheck"].get("disable"), (name, needed)
            if condition == "service_completed_successfully":
                assert services[needed]["restart"] == "no", (name, needed)
    assert services["migrate"]["command"] == ["migrate"]
    for name in ("batch", "admin", "demo"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    # the engine listens where the others dial it, by its service name
    engine = settings_from(service_env(services["engine"]), monkeypatch)
    for name in ("batch", "admin"):
        dialled = settings_from(service_env(services[name]), monkeypatch).grpc_addr
        assert dialled == f"engine:{split_addr(engine.grpc_addr)[1]}", name


# --- Prometheus and Grafana ------------------------------------------------------------------


def host_path(service: dict[str, Any], container_path: str) -> Path:
    """Where a file the container sees at `container_path` is, through its bind mounts."""
    wanted = PurePosixPath(container_path)
    for volume in service["volumes"]:
        source, inside = volume.split(":")[:2]
        if source.startswith(".") and wanted.is_relative_to(inside):
            return DEPLOY / source / wanted.relative_to(inside)
    raise AssertionError(f"{container_path} is not mounted from deploy/")


def test_prometheus_scrapes_every_process_where_it_listens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = compose()["services"]
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    listening = {
        "tarif-engine": ("engine", "metrics_addr"),
        "tarif-batch": ("batch", "batch_metrics_addr"),
        "tarif-admin": ("admin", "admin_addr"),
    }
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(listening) <= set(jobs)
    for job, (service, setting) in listening.items():
        [static] = jobs[job]["static_configs"]
        settings = settings_from(service_env(services[service]), monkeypatch)
        assert static["targets"] == [f"{service}:{split_addr(getattr(settings, setting))[1]}"]
    # the rules file, relative to the config, is where compose mounts it
    prometheus = services["prometheus"]
    [config_file] = [a for a in prometheus["command"] if a.startswith("--config.file=")]
    inside = PurePosixPath(config_file.split("=", 1)[1])
    assert host_path(prometheus, str(inside)) == DEPLOY / "prometheus.yml"
    for rules in config["rule_files"]:
        assert (DEPLOY / rules).is_file()
        assert host_path(prometheus, str(inside.parent / rules)) == DEPLOY / rules


def test_grafana_is_provisioned_with_prometheus_and_the_dashboards_folder() -> None:
    services = compose()["services"]
    grafana = services["grafana"]
    provisioning = DEPLOY / "grafana" / "provisioning"
    [source] = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())[
        "datasources"
    ]
    host, port = split_addr(source["url"].removeprefix("http://"))
    assert host in services
    assert port == 9090
    assert source["isDefault"]
    [provider] = yaml.safe_load((provisioning / "dashboards" / "tarif.yaml").read_text())[
        "providers"
    ]
    assert host_path(grafana, provider["options"]["path"]) == DEPLOY / "grafana"
    for kind in ("datasources", "dashboards"):
        assert host_path(grafana, f"/etc/grafana/provisioning/{kind}") == provisioning / kind
    for dashboard in (DEPLOY / "grafana").rglob("*.json"):
        assert json.loads(dashboard.read_text())["uid"], dashboard


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian: prometheus)")
def test_promtool_accepts_the_config_and_its_rules() -> None:
    checked = subprocess.run(
        ["promtool", "check", "config", str(DEPLOY / "prometheus.yml")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
