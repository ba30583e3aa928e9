"""The deployment manifests: every Kubernetes resource in deploy/kubernetes passes ``kubernetes-validate --strict``
(the Kubernetes API's schemas, bundled with the package: no network) and deploy/compose.yaml the Compose
specification's JSON schema (the copy check-jsonschema vendors); a misspelt field fails each, so the validation
really runs. Then what the schemas cannot see: the manifests name the image, port, volume and health check of the
Dockerfile, probe /healthz, run as its non-root user, and reference the secrets instead of holding them. The
systemd unit passes ``systemd-analyze verify`` where systemd is installed."""

from __future__ import annotations

import copy
import importlib.resources
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

ROOT = Path(__file__).parent.parent.parent
DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"
IMAGE = "localhost/openbcs:latest"  # scripts/build-image's default tag
SECRETS = {"OPENBCS_SECRET_KEY", "OPENBCS_DATABASE_URL"}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def kustomization() -> dict[str, Any]:
    document: dict[str, Any] = load(KUBE / "kustomization.yaml")
    return document


def resources() -> dict[str, dict[str, Any]]:
    """The kustomization's resources by kind (one document per file)."""
    return {doc["kind"]: doc for doc in (load(KUBE / name) for name in kustomization()["resources"])}


def env_example(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def generated_secret() -> dict[str, Any]:
    """The Secret kustomize's secretGenerator makes from the example env file (as it would from openbcs.env)."""
    (generator,) = kustomization()["secretGenerator"]
    assert generator["envs"] == ["openbcs.env"]
    assert generator["options"]["disableNameSuffixHash"] is True
    data = env_example(KUBE / "openbcs.env.example")
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": generator["name"]}, "stringData": data}


def test_every_kubernetes_resource_passes_strict_validation() -> None:
    documents = [*resources().values(), generated_secret()]
    assert [doc["kind"] for doc in documents] == ["Namespace", "ConfigMap", "Deployment", "Service", "Secret"]
    for doc in documents:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_the_command_line_validator_passes_the_files() -> None:
    files = [str(KUBE / name) for name in kustomization()["resources"]]
    result = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(files)


def test_strict_validation_rejects_a_misspelt_field() -> None:
    deployment = copy.deepcopy(resources()["Deployment"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


def deployment_container() -> dict[str, Any]:
    containers: list[dict[str, Any]] = resources()["Deployment"]["spec"]["template"]["spec"]["containers"]
    (container,) = containers
    return container


def test_the_deployment_runs_the_image_as_its_non_root_user_read_only_with_limits() -> None:
    deployment = resources()["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    container = deployment_container()
    assert container["image"] == IMAGE
    assert [i["name"] for i in kustomization()["images"]] == [IMAGE.partition(":")[0]]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["fsGroup"] == 10001
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert {"/var/lib/openbcs", "/tmp"} <= set(mounts)  # the image's VOLUME and a writable /tmp
    assert deployment["spec"]["selector"]["matchLabels"] == deployment["spec"]["template"]["metadata"]["labels"]
    service = resources()["Service"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    (port,) = container["ports"]
    assert port["containerPort"] == 8080
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]


def test_every_probe_asks_healthz_over_the_scheme_the_server_speaks() -> None:
    container = deployment_container()
    config = resources()["ConfigMap"]["data"]
    scheme = "HTTPS" if config.get("OPENBCS_TLS_CERT") else "HTTP"
    probes = [container[name] for name in ("startupProbe", "readinessProbe", "livenessProbe")]
    for probe in probes:
        assert probe["httpGet"] == {"path": "/healthz", "port": container["ports"][0]["name"], "scheme": scheme}
    tls_mount = next(m for m in container["volumeMounts"] if m["name"] == "tls")
    assert config["OPENBCS_TLS_CERT"].startswith(tls_mount["mountPath"] + "/")
    assert config["OPENBCS_TLS_KEY"].startswith(tls_mount["mountPath"] + "/")
    assert config["OPENBCS_PORT"] == str(container["ports"][0]["containerPort"])


def test_the_secrets_are_referenced_never_inlined() -> None:
    container = deployment_container()
    config = resources()["ConfigMap"]["data"]
    assert not SECRETS & set(config)
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert set(refs) == SECRETS
    assert {(r["name"], r["key"]) for r in refs.values()} == {("openbcs", name) for name in SECRETS}
    assert all("value" not in e for e in container["env"])
    assert container["envFrom"] == [{"configMapRef": {"name": resources()["ConfigMap"]["metadata"]["name"]}}]
    example = env_example(KUBE / "openbcs.env.example")
    assert set(example) == SECRETS
    assert example["OPENBCS_SECRET_KEY"] == ""


def compose_schema() -> dict[str, Any]:
    vendored = importlib.resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema: dict[str, Any] = json.loads(vendored.read_text())
    return schema


def compose() -> dict[str, Any]:
    document: dict[str, Any] = load(DEPLOY / "compose.yaml")
    return document


def test_compose_file_passes_the_compose_specification_schema() -> None:
    schema = compose_schema()
    jsonschema.validators.validator_for(schema).check_schema(schema)
    jsonschema.validate(compose(), schema, cls=jsonschema.validators.validator_for(schema))


def test_the_compose_schema_rejects_a_misspelt_field() -> None:
    broken = compose()
    broken["services"]["openbcs"]["healthcheck"]["intervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        jsonschema.validate(broken, compose_schema(), cls=jsonschema.validators.validator_for(compose_schema()))


def test_compose_runs_the_image_after_a_healthy_postgres_with_secrets_from_files() -> None:
    services = compose()["services"]
    openbcs, postgres = services["openbcs"], services["postgres"]
    assert openbcs["image"] == IMAGE
    assert openbcs["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert openbcs["healthcheck"]["test"] == ["CMD", "python3", "/opt/openbcs/healthcheck.py"]  # the Dockerfile's
    assert "openbcs-data:/var/lib/openbcs" in openbcs["volumes"]
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    assert set(compose()["volumes"]) == {"openbcs-data", "postgres-data"}
    assert openbcs["ports"] == ["8443:8080"]
    assert openbcs["environment"]["OPENBCS_TLS"] == "self-signed"
    assert openbcs["read_only"] is True
    # The secrets come from env files that are not in the repository; only their examples are, without values.
    assert openbcs["env_file"] == ["openbcs.env"]
    assert postgres["env_file"] == ["postgres.env"]
    assert not (SECRETS | {"POSTGRES_PASSWORD"}) & (set(openbcs["environment"]) | set(postgres["environment"]))
    assert set(env_example(DEPLOY / "openbcs.env.example")) == SECRETS
    assert env_example(DEPLOY / "openbcs.env.example")["OPENBCS_SECRET_KEY"] == ""
    assert env_example(DEPLOY / "postgres.env.example") == {"POSTGRES_PASSWORD": ""}
    url = env_example(DEPLOY / "openbcs.env.example")["OPENBCS_DATABASE_URL"]
    user, database = postgres["environment"]["POSTGRES_USER"], postgres["environment"]["POSTGRES_DB"]
    assert url == f"postgresql+psycopg://{user}:PASSWORD@postgres:5432/{database}"


def test_the_env_files_with_the_secrets_are_never_committed() -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    secrets = ["deploy/openbcs.env", "deploy/postgres.env", "deploy/kubernetes/openbcs.env", "deploy/tls/key.pem"]
    examples = ["deploy/openbcs.env.example", "deploy/postgres.env.example", "deploy/kubernetes/openbcs.env.example"]
    ignored = subprocess.run(
        [git, "check-ignore", "--no-index", *secrets, *examples], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert ignored.stdout.split() == secrets
    for example in examples:
        assert (ROOT / example).is_file()


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: systemd)")
    unit = (DEPLOY / "systemd/openbcs.service").read_text()
    assert "ExecStart=/opt/openbcs/bin/openbcs serve" in unit
    # verify checks that ExecStart's program exists: point it at this environment's openbcs, nothing else changes.
    here = Path(sys.executable).parent / "openbcs"
    (tmp_path / "openbcs.service").write_text(unit.replace("/opt/openbcs/bin/openbcs", str(here)))
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / "openbcs.service")], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""  # an unknown or misspelt directive is only a warning: none is allowed
