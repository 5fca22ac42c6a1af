"""The operators' artefacts (Dockerfile, compose.yaml, .env.example, deploy/k8s/) against the
code they start: every `coursebot` command they name exists in runner.py's parser, every
variable they set is a setting `Settings` reads (or belongs to a named other reader), the
values they hard-code are ones `Settings` accepts, secrets come from secrets, and every probe
asks for /health on the port that process serves it on. A renamed command or setting fails
here, naming the file, instead of in an operator's cluster. Reads files only.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner import build_parser
from storage.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
K8S = ROOT / "deploy" / "k8s"
IMAGE = "coursebot"

# Where each command serves /health (docs/deploy.md says the same). `migrate` serves nothing.
HEALTH_PORT_SETTING = {
    "runner": "COURSEBOT_RUNNER_PORT",
    "panel": "COURSEBOT_PORT",
    "up": "COURSEBOT_PORT",
}
# Variables that are not coursebot settings, each with whoever reads it.
IMAGE_ONLY_VARIABLES = {
    "PATH": "the exec lookup of coursebot and python",
    "PYTHONUNBUFFERED": "CPython",
    "PYTHONDONTWRITEBYTECODE": "CPython",
    "PIP_NO_CACHE_DIR": "pip, in the builder stage",
    "PIP_DISABLE_PIP_VERSION_CHECK": "pip, in the builder stage",
}
COMPOSE_ONLY_VARIABLES = {
    "POSTGRES_PASSWORD": "the postgres service, and DATABASE_URL through interpolation",
}
# A process with no store URLs would start embedded servers inside its container, and one
# without the key could not read the bot tokens the others stored.
SHARED_BY_EVERY_PROCESS = ("DATABASE_URL", "REDIS_URL", "COURSEBOT_SECRET_KEY")
# Long enough for a runner to hand its leases back and finish what it holds after SIGTERM;
# Docker's default of 10 s is not.
MIN_RUNNER_GRACE_S = 30

SETTINGS = {str(f.alias): f for f in Settings.model_fields.values()}
# Settings kept out of repr() are the secret ones (passwords in URLs, keys, tokens).
SECRET_SETTINGS = {name for name, f in SETTINGS.items() if not f.repr}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}")
HTTP_URL = re.compile(r"https?://[^/:'\"\s]+:(\d+)(/[^'\"\s]*)")


def coursebot_commands() -> set[str]:
    """The subcommands runner.py accepts, read from its parser (so new ones count at once)."""
    parser = build_parser()
    for action in parser._actions:
        if action.choices and isinstance(action.choices, dict):
            return set(action.choices)
    raise AssertionError("runner.build_parser() has no subcommands")


@dataclass
class Probe:
    kind: str  # "healthcheck", "readinessProbe", ...
    path: str
    port: int


@dataclass
class Container:
    """One place an artefact runs the coursebot image."""

    where: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # name -> value as written
    secret_env: set[str] = field(default_factory=set)  # names coming from a Secret
    probes: list[Probe] = field(default_factory=list)
    grace_s: int | None = None

    @property
    def command(self) -> str:
        return self.argv[0] if self.argv else ""


# --- Dockerfile ---------------------------------------------------------------------------


@dataclass
class Dockerfile:
    stages: list[list[tuple[str, str]]]  # per stage, its instructions, FROM first

    @property
    def runtime(self) -> list[tuple[str, str]]:
        return self.stages[-1]

    def last(self, keyword: str) -> str | None:
        found = [args for key, args in self.runtime if key == keyword]
        return found[-1] if found else None

    def env(self, stage: list[tuple[str, str]] | None = None) -> dict[str, str]:
        env: dict[str, str] = {}
        for key, args in self.runtime if stage is None else stage:
            if key == "ENV":
                for token in shlex.split(args):
                    assert "=" in token, f"Dockerfile: write ENV as NAME=value, not {args!r}"
                    name, _, value = token.partition("=")
                    env[name] = value
        return env

    def entrypoint(self) -> list[str]:
        raw = self.last("ENTRYPOINT")
        assert raw is not None, "Dockerfile: no ENTRYPOINT"
        value = json.loads(raw)  # exec form: SIGTERM reaches the process, not a shell
        assert isinstance(value, list), "Dockerfile: ENTRYPOINT must be a JSON list"
        return [str(part) for part in value]

    def cmd(self) -> list[str]:
        raw = self.last("CMD")
        return [str(part) for part in json.loads(raw)] if raw else []


def read_dockerfile() -> Dockerfile:
    """Instructions with continuation lines joined and comments dropped, split into stages."""
    instructions: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        if pending.strip():
            instructions.append(pending.strip())
        pending = ""
    stages: list[list[tuple[str, str]]] = []
    for instruction in instructions:
        keyword, _, args = instruction.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        if stages:  # ARG before the first FROM belongs to no stage
            stages[-1].append((keyword.upper(), args.strip()))
    assert stages, "Dockerfile: no FROM"
    return Dockerfile(stages)


def image_env() -> dict[str, str]:
    return read_dockerfile().env()


def image_argv_prefix() -> list[str]:
    """What the image runs before a container's arguments: the entry point up to `coursebot`."""
    entrypoint = read_dockerfile().entrypoint()
    assert entrypoint and Path(entrypoint[-1]).name == "coursebot", (
        f"Dockerfile: ENTRYPOINT must end with the coursebot console script, got {entrypoint}"
    )
    return entrypoint


# --- compose.yaml -------------------------------------------------------------------------


def read_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), "compose.yaml"
    return data


def is_our_image(service: dict[str, Any]) -> bool:
    image = str(service.get("image", ""))
    return "build" in service or image.rsplit("/", 1)[-1].split(":")[0] == IMAGE


def compose_containers() -> Iterator[Container]:
    for name, service in read_compose()["services"].items():
        if not is_our_image(service):
            continue
        where = f"compose.yaml service {name}"
        assert "entrypoint" not in service, f"{where}: keep the image's coursebot entry point"
        command = service.get("command", [])
        argv = shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
        raw_env = service.get("environment", {})
        if isinstance(raw_env, list):
            raw_env = dict(item.partition("=")[::2] for item in raw_env)
        env = {str(k): "" if v is None else str(v) for k, v in raw_env.items()}
        probes = []
        healthcheck = service.get("healthcheck")
        if healthcheck and not healthcheck.get("disable"):
            test = healthcheck["test"]
            text = test if isinstance(test, str) else " ".join(str(t) for t in test)
            urls = HTTP_URL.findall(text)
            assert urls, f"{where}: its healthcheck requests no http://host:port/path URL"
            probes += [Probe("healthcheck", path, int(port)) for port, path in urls]
        grace = service.get("stop_grace_period")
        yield Container(where, argv, env, set(), probes, duration_s(grace) if grace else None)


def duration_s(value: object) -> int:
    """Compose durations as this file writes them: `60s`, `2m`, `1m30s`."""
    text = str(value)
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", text)
    assert match and text, f"compose.yaml: unreadable duration {text!r}"
    return int(match[1] or 0) * 60 + int(match[2] or 0)


def compose_interpolated() -> set[str]:
    return set(INTERPOLATION.findall(COMPOSE.read_text()))


def env_example_names() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(line.partition("=")[0].strip())
    return names


# --- Kubernetes ---------------------------------------------------------------------------


def k8s_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    files = sorted(K8S.glob("*.yaml")) + sorted(K8S.glob("*.yml"))
    assert files, f"no manifests under {K8S}"
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                assert isinstance(doc, dict) and "kind" in doc, f"{path.name}: not a manifest"
                yield path, doc


def k8s_env_sources() -> dict[tuple[str, str], dict[str, str]]:
    """(kind, name) -> keys and values of every ConfigMap and Secret under deploy/k8s."""
    sources: dict[tuple[str, str], dict[str, str]] = {}
    for _, doc in k8s_documents():
        if doc["kind"] in ("ConfigMap", "Secret"):
            values = {**doc.get("data", {}), **doc.get("stringData", {})}
            sources[(doc["kind"], doc["metadata"]["name"])] = {
                str(k): str(v) for k, v in values.items()
            }
    return sources


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        spec: dict[str, Any] = doc["spec"]["template"]["spec"]
        return spec
    if doc["kind"] == "CronJob":
        spec = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    if doc["kind"] == "Pod":
        spec = doc["spec"]
        return spec
    return None


def k8s_containers() -> Iterator[Container]:
    sources = k8s_env_sources()
    for path, doc in k8s_documents():
        spec = pod_spec(doc)
        if spec is None:
            continue
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            if str(c["image"]).rsplit("/", 1)[-1].split(":")[0] != IMAGE:
                continue
            where = f"deploy/k8s/{path.name} {doc['kind']} {doc['metadata']['name']}/{c['name']}"
            assert "command" not in c, f"{where}: keep the image's coursebot entry point"
            env: dict[str, str] = {}
            secret_env: set[str] = set()
            for ref in c.get("envFrom", []):
                kind = "Secret" if "secretRef" in ref else "ConfigMap"
                name = (ref.get("secretRef") or ref.get("configMapRef"))["name"]
                assert (kind, name) in sources, f"{where}: {kind} {name} is not in deploy/k8s"
                env.update(sources[(kind, name)])
                if kind == "Secret":
                    secret_env |= set(sources[(kind, name)])
                else:
                    secret_env -= set(sources[(kind, name)])
            for item in c.get("env", []):
                value_from = item.get("valueFrom", {})
                if "secretKeyRef" in value_from:
                    ref = value_from["secretKeyRef"]
                    env[item["name"]] = sources.get(("Secret", ref["name"]), {}).get(ref["key"], "")
                    secret_env.add(item["name"])
                elif "configMapKeyRef" in value_from:
                    ref = value_from["configMapKeyRef"]
                    env[item["name"]] = sources.get(("ConfigMap", ref["name"]), {}).get(
                        ref["key"], ""
                    )
                    secret_env.discard(item["name"])
                else:
                    env[item["name"]] = str(item.get("value", ""))
                    secret_env.discard(item["name"])
            ports = {p["name"]: int(p["containerPort"]) for p in c.get("ports", []) if "name" in p}
            probes = []
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                if kind in c:
                    http = c[kind].get("httpGet")
                    assert http, f"{where}: {kind} is not an HTTP GET"
                    port = http["port"]
                    port = ports[port] if isinstance(port, str) else int(port)
                    probes.append(Probe(kind, str(http["path"]), port))
            yield Container(
                where,
                [str(a) for a in c.get("args", [])],
                env,
                secret_env,
                probes,
                spec.get("terminationGracePeriodSeconds", 30),
            )


def all_containers() -> list[Container]:
    containers = list(compose_containers()) + list(k8s_containers())
    assert containers, "no artefact runs the coursebot image"
    return containers


# --- the checks ---------------------------------------------------------------------------


def test_the_image_is_built_in_stages_and_runs_coursebot_as_a_non_root_user() -> None:
    dockerfile = read_dockerfile()
    assert len(dockerfile.stages) >= 2, "Dockerfile: build in one stage, run in a slim one"
    assert "slim" in dockerfile.runtime[0][1], "Dockerfile: the runtime stage is not slim"
    user = dockerfile.last("USER")
    assert user and user.split(":")[0] not in ("root", "0"), "Dockerfile: runs as root"
    image_argv_prefix()
    exposed = {int(port.split("/")[0]) for port in (dockerfile.last("EXPOSE") or "").split()}
    served = {int(dockerfile.env()[name]) for name in set(HEALTH_PORT_SETTING.values())}
    assert exposed == served, f"Dockerfile: EXPOSE {sorted(exposed)}, ports set {sorted(served)}"
    cmd = dockerfile.cmd()
    assert not cmd or cmd[0] in coursebot_commands(), f"Dockerfile: CMD {cmd} is no command"
    for key, args in (i for stage in dockerfile.stages for i in stage):
        if key == "COPY" and "--from=" not in args:
            for source in shlex.split(args)[:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is missing"


def test_every_command_the_artefacts_run_is_a_coursebot_command() -> None:
    commands = coursebot_commands()
    unknown = [
        f"{c.where}: `coursebot {' '.join(c.argv)}`"
        for c in all_containers()
        if c.command not in commands
    ]
    assert not unknown, (
        f"commands runner.py does not have (it has {sorted(commands)}):\n" + "\n".join(unknown)
    )


def test_every_variable_the_artefacts_set_is_read_by_someone() -> None:
    dockerfile = read_dockerfile()
    unknown = [
        f"Dockerfile: ENV {name}"
        for stage in dockerfile.stages
        for name in dockerfile.env(stage)
        if name not in SETTINGS and name not in IMAGE_ONLY_VARIABLES
    ]
    for c in all_containers():
        unknown += [f"{c.where}: {name}" for name in c.env if name not in SETTINGS]
    for name in compose_interpolated() | env_example_names():
        if name not in SETTINGS and name not in COMPOSE_ONLY_VARIABLES:
            unknown.append(f"compose.yaml / .env.example: {name}")
    assert not unknown, (
        "variables no Settings field reads (renamed? see storage/config.py):\n" + "\n".join(unknown)
    )


def test_the_values_the_artefacts_write_down_are_accepted_by_settings() -> None:
    for c in all_containers():
        merged = {**image_env(), **c.env}
        literal = {
            name: value
            for name, value in merged.items()
            if name in SETTINGS and value and "${" not in value
        }
        try:
            Settings.model_validate(literal)
        except ValueError as exc:
            pytest.fail(f"{c.where}: Settings refuses its values: {exc}")


def test_secrets_come_from_secrets_never_from_the_files_themselves() -> None:
    leaked = [f"Dockerfile: ENV {name}" for name in image_env() if name in SECRET_SETTINGS]
    for c in compose_containers():
        leaked += [
            f"{c.where}: {name} is written in compose.yaml"
            for name, value in c.env.items()
            if name in SECRET_SETTINGS and value and not INTERPOLATION.search(value)
        ]
    for c in k8s_containers():
        leaked += [
            f"{c.where}: {name} does not come from a Secret"
            for name in c.env
            if name in SECRET_SETTINGS and name not in c.secret_env
        ]
    for (kind, name), values in k8s_env_sources().items():
        if kind == "ConfigMap":
            leaked += [
                f"deploy/k8s: ConfigMap {name} holds {key}" for key in SECRET_SETTINGS & set(values)
            ]
    assert not leaked, "\n".join(leaked)


def test_every_process_reaches_the_same_stores_with_the_same_key() -> None:
    missing = [
        f"{c.where}: {name}"
        for c in all_containers()
        for name in SHARED_BY_EVERY_PROCESS
        if name not in c.env
    ]
    assert not missing, "a container without the shared stores or key:\n" + "\n".join(missing)


def test_probes_ask_for_health_on_the_port_the_process_serves_it_on() -> None:
    probed = set()
    for c in all_containers():
        setting = HEALTH_PORT_SETTING.get(c.command)
        if setting is None:
            assert not c.probes, f"{c.where}: `{c.command}` serves no /health to probe"
            continue
        assert setting in SETTINGS, (
            f"{c.where}: `{c.command}` serves /health on {setting}, which Settings lacks"
        )
        assert c.probes, f"{c.where}: `{c.command}` has no health check"
        value = {**image_env(), **c.env}.get(setting) or SETTINGS[setting].default
        for probe in c.probes:
            assert probe.path == "/health", f"{c.where}: {probe.kind} asks for {probe.path}"
            assert probe.port == int(value), (
                f"{c.where}: {probe.kind} probes port {probe.port}, "
                f"but {setting} makes it serve /health on {value}"
            )
        probed.add(c.command)
    assert {"runner", "panel"} <= probed


def test_compose_migrates_once_before_two_runners_and_a_panel_start() -> None:
    services = read_compose()["services"]
    by_command = {c.command: c.where.rsplit(" ", 1)[-1] for c in compose_containers()}
    assert {"migrate", "runner", "panel"} <= by_command.keys()
    migrate = by_command["migrate"]
    assert services[migrate].get("restart") == "no", "compose.yaml: migrate is one-shot"
    for command in ("runner", "panel"):
        depends = services[by_command[command]]["depends_on"]
        assert depends[migrate]["condition"] == "service_completed_successfully", command
    runner_services = [c for c in compose_containers() if c.command == "runner"]
    replicas = sum(
        int(services[c.where.rsplit(" ", 1)[-1]].get("deploy", {}).get("replicas", 1))
        for c in runner_services
    )
    assert replicas >= 2, "compose.yaml runs fewer than 2 runners"
    assert any(services[by_command["panel"]].get("ports", [])), "the panel publishes no port"
    for c in runner_services:
        assert (c.grace_s or 10) >= MIN_RUNNER_GRACE_S, f"{c.where}: stop_grace_period"
    interpolated = compose_interpolated()
    assert interpolated == env_example_names(), (
        ".env.example must list exactly the variables compose.yaml reads: "
        f"missing {sorted(interpolated - env_example_names())}, "
        f"extra {sorted(env_example_names() - interpolated)}"
    )


def test_kubernetes_runs_a_migrate_job_replicated_runners_and_a_served_panel() -> None:
    docs = list(k8s_documents())
    containers = list(k8s_containers())
    jobs = [c for c in containers if c.command == "migrate"]
    assert jobs and all(" Job " in c.where for c in jobs), "deploy/k8s: no migrate Job"
    runners = [(p, d) for p, d in docs if d["kind"] == "Deployment" and _runs(d, "runner")]
    panels = [(p, d) for p, d in docs if d["kind"] == "Deployment" and _runs(d, "panel")]
    assert runners and all(d["spec"].get("replicas", 1) >= 2 for _, d in runners), (
        "deploy/k8s: the runner Deployment needs replicas >= 2"
    )
    for c in containers:
        if c.command == "runner":
            assert (c.grace_s or 0) >= MIN_RUNNER_GRACE_S, f"{c.where}: grace period"
    assert panels, "deploy/k8s: no panel Deployment"
    panel_labels = panels[0][1]["spec"]["template"]["metadata"]["labels"]
    services = [d for _, d in docs if d["kind"] == "Service"]
    assert any(s["spec"]["selector"].items() <= panel_labels.items() for s in services), (
        "deploy/k8s: no Service selects the panel"
    )
    kustomization = K8S / "kustomization.yaml"
    if kustomization.exists():
        for resource in yaml.safe_load(kustomization.read_text())["resources"]:
            assert (K8S / resource).exists(), f"kustomization.yaml lists missing {resource}"


def _runs(doc: dict[str, Any], command: str) -> bool:
    spec = pod_spec(doc) or {}
    return any(c.get("args", [None])[0] == command for c in spec.get("containers", []))


def test_the_deploy_guide_lists_every_setting_and_no_other() -> None:
    text = DEPLOY_DOC.read_text()
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)`", section, flags=re.MULTILINE))
    assert listed == set(SETTINGS), (
        "docs/deploy.md's settings table and storage/config.py differ: "
        f"not in the table {sorted(set(SETTINGS) - listed)}, "
        f"not a setting {sorted(listed - set(SETTINGS))}"
    )
