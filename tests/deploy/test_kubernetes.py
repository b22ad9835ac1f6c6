"""deploy/kubernetes: manifests valid against the Kubernetes schemas offline, and wired right."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from deploy_files import DEPLOY, REPO, load_yaml, load_yaml_all

from churnwatch.rules.loader import load_rules

K8S = DEPLOY / "kubernetes"
#: the oldest Kubernetes still commonly run, and the newest the schema package ships
VERSIONS = ("1.28.0", kubernetes_validate.latest_version())


def documents() -> list[tuple[str, dict[str, Any]]]:
    """Every manifest document but the Kustomization, with the file it came from."""
    return [
        (path.name, doc)
        for path in sorted(K8S.glob("*.yaml"))
        for doc in load_yaml_all(path)
        if doc.get("kind") != "Kustomization"
    ]


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        doc
        for _, doc in documents()
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def worker() -> dict[str, Any]:
    return one("StatefulSet")["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("source", "doc"), documents(), ids=[f"{s}:{d['kind']}" for s, d in documents()]
)
def test_manifest_is_valid_for_kubernetes(source: str, doc: dict[str, Any], version: str) -> None:
    """Each document validates strictly (no unknown fields) against the bundled schemas."""
    kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_does_refuse_a_broken_manifest() -> None:
    """A misspelt field is refused, so the validation above is not a formality."""
    broken = one("StatefulSet")
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest() -> None:
    """`kubectl apply -k` applies every file in the folder, and only those."""
    listed = set(load_yaml(K8S / "kustomization.yaml")["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == files


def test_kustomize_builds_when_kubectl_is_here() -> None:
    """`kubectl kustomize` renders the folder (skipped where kubectl is not installed)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\nkind: ") + result.stdout.startswith("kind: ") >= len(documents())


def test_probes_hit_the_health_endpoints_on_the_metrics_port() -> None:
    """Liveness and startup probe /healthz, readiness /readyz, all on the named metrics port."""
    container = worker()
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    config = load_yaml_all_config()
    assert ports["metrics"] == config["metrics"]["port"]


def load_yaml_all_config() -> dict[str, Any]:
    from ruamel.yaml import YAML

    text = one("ConfigMap", "churnwatch-config")["data"]["config.yaml"]
    return YAML(typ="safe", pure=True).load(text)  # type: ignore[no-any-return]


def test_metrics_service_selects_the_workers() -> None:
    """The metrics Service selects the workers, keeps unready ones, and is their serviceName."""
    service, sts = one("Service", "churnwatch"), one("StatefulSet")
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert sts["spec"]["serviceName"] == service["metadata"]["name"]
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["metrics"]


def test_state_is_a_volume_claim_at_the_state_dir() -> None:
    """Each worker gets its own claimed volume at /var/lib/churnwatch/state, and the config
    keeps its RocksDB state store there, so a restarted pod reads only the changelog's tail."""
    sts = one("StatefulSet")
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    mounts = {m["name"]: m for m in worker()["volumeMounts"]}
    assert "state" in claims
    assert mounts["state"]["mountPath"] == "/var/lib/churnwatch/state"
    state_store = load_yaml_all_config()["worker"]["state_store"]
    assert state_store == "rocksdb://" + mounts["state"]["mountPath"]


def test_rules_are_a_directory_mount_so_changes_reach_the_worker() -> None:
    """The rules ConfigMap is mounted whole (no subPath) at rules.dir, so kubelet updates it."""
    mounts = {m["name"]: m for m in worker()["volumeMounts"]}
    volumes = {v["name"]: v for v in one("StatefulSet")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["rules"]["configMap"]["name"] == "churnwatch-rules"
    assert "subPath" not in mounts["rules"]
    assert mounts["rules"]["mountPath"] == load_yaml_all_config()["rules"]["dir"]


def test_secrets_hold_placeholders_only() -> None:
    """Every Secret value in the manifests is a REPLACE_ME placeholder, never a real value."""
    secrets = [doc for _, doc in documents() if doc["kind"] == "Secret"]
    assert {s["metadata"]["name"] for s in secrets} >= {"churnwatch-database", "churnwatch-twilio"}
    for secret in secrets:
        assert "data" not in secret, "use stringData placeholders, not base64 data"
        for key, value in secret["stringData"].items():
            assert "REPLACE_ME" in value, f"{secret['metadata']['name']}.{key}"


def test_secrets_reach_the_worker_by_reference() -> None:
    """Credentials come from Secret references, and no env var carries a literal secret."""
    env = {e["name"]: e for e in worker()["env"]}
    for name in ("CHURNWATCH_STORE_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        assert "secretKeyRef" in env[name]["valueFrom"], name
    assert all("value" not in e for e in env.values())


def test_worker_runs_unprivileged_with_resources() -> None:
    """The pod runs as the image's non-root uid, and the container has requests and limits."""
    sts = one("StatefulSet")
    pod_security = sts["spec"]["template"]["spec"]["securityContext"]
    assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] == 10001
    resources = worker()["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert {"cpu", "memory"} <= resources["limits"].keys()


def test_the_rules_configmap_is_the_shipped_pack() -> None:
    """configmap-rules.yaml is exactly what render_rules_configmap.py makes of rules/pack."""
    spec = importlib.util.spec_from_file_location("render", K8S / "render_rules_configmap.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.render(REPO / "rules" / "pack")
    assert (K8S / "configmap-rules.yaml").read_text(encoding="utf-8") == expected, (
        "rules/pack changed: run python deploy/kubernetes/render_rules_configmap.py "
        "> deploy/kubernetes/configmap-rules.yaml"
    )


def test_the_rules_configmap_loads_as_kubelet_mounts_it(tmp_path: Path) -> None:
    """Laid out as kubelet does (..data symlinks), the ConfigMap's rules load in the loader."""
    data = one("ConfigMap", "churnwatch-rules")["data"]
    stamp = tmp_path / "..2026_01_01_00_00_00.000000001"
    stamp.mkdir()
    for name, text in data.items():
        (stamp / name).write_text(text, encoding="utf-8")
    (tmp_path / "..data").symlink_to(stamp.name)
    for name in data:
        (tmp_path / name).symlink_to(Path("..data") / name)
    ruleset = load_rules(tmp_path)
    assert len(ruleset.rules) == len(load_rules(REPO / "rules" / "pack").rules) > 0


def test_web_serves_the_follow_up_pages_with_the_shared_link_secret() -> None:
    """churnwatch web runs as a Deployment probed on /healthz, and it and the workers read
    the same link secret, so a link a worker puts in a message opens on the web."""
    web = one("Deployment", "churnwatch-web")
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "web"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    worker_env = {e["name"]: e.get("valueFrom") for e in worker()["env"]}
    web_env = {e["name"]: e.get("valueFrom") for e in container["env"]}
    assert worker_env["CHURNWATCH_WEB_SECRET"] == web_env["CHURNWATCH_WEB_SECRET"]
    assert worker_env["CHURNWATCH_WEB_PUBLIC_URL"] == web_env["CHURNWATCH_WEB_PUBLIC_URL"]
    service = one("Service", "churnwatch-web")
    assert (
        service["spec"]["selector"].items() <= web["spec"]["template"]["metadata"]["labels"].items()
    )


def test_the_schema_upgrade_job_runs_the_workers_image_against_their_store() -> None:
    """jobs/db-upgrade.yaml is valid, runs ``churnwatch db upgrade`` with the workers' image
    and database Secret, and stays out of the kustomization (a Job cannot be re-applied)."""
    job = load_yaml(K8S / "jobs" / "db-upgrade.yaml")
    for version in VERSIONS:
        kubernetes_validate.validate(job, version, strict=True)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["db", "upgrade"]
    assert container["image"] == worker()["image"]
    store = next(e for e in worker()["env"] if e["name"] == "CHURNWATCH_STORE_URL")
    assert store in container["env"]
    assert "jobs/db-upgrade.yaml" not in load_yaml(K8S / "kustomization.yaml")["resources"]
