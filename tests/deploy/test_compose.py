"""deploy/compose.yaml: it parses, runs the stack the issue names, and its mounts exist."""

from __future__ import annotations

from typing import Any

from deploy_files import DEPLOY, load_yaml

COMPOSE = DEPLOY / "compose.yaml"


def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE)
    assert isinstance(data, dict)
    return data


def services() -> dict[str, Any]:
    return compose()["services"]  # type: ignore[no-any-return]


def test_compose_names_the_stack() -> None:
    """Kafka, PostgreSQL, two workers, Prometheus and Grafana are all services."""
    assert {"kafka", "postgres", "worker-1", "worker-2", "prometheus", "grafana"} <= set(services())


def test_kafka_is_apache_kafka_in_kraft_mode() -> None:
    """The broker is the apache/kafka image acting as its own controller, with no ZooKeeper."""
    kafka = services()["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "KAFKA_CONTROLLER_QUORUM_VOTERS" in kafka["environment"]
    assert not any("zookeeper" in name for name in services())


def test_workers_share_one_image_and_keep_their_own_state() -> None:
    """Both workers build from deploy/Dockerfile and mount a state volume of their own."""
    states = []
    for name in ("worker-1", "worker-2"):
        worker = services()[name]
        assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
        assert worker["command"][0] == "worker"
        state = [v for v in worker["volumes"] if v.endswith(":/var/lib/churnwatch/state")]
        assert len(state) == 1, name
        states.append(state[0].split(":", 1)[0])
        assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert len(set(states)) == 2
    assert set(states) <= set(compose()["volumes"])


def test_workers_keep_rocksdb_state_on_their_volume() -> None:
    """The compose config puts the RocksDB state store on the workers' state volume."""
    config = load_yaml(DEPLOY / "compose.config.yaml")
    assert config["worker"]["state_store"] == "rocksdb:///var/lib/churnwatch/state"


def test_no_password_is_written_into_the_file() -> None:
    """Passwords come from the environment (${VAR:?...}), never a literal in compose.yaml."""
    postgres = services()["postgres"]["environment"]["POSTGRES_PASSWORD"]
    grafana = services()["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert postgres.startswith("${POSTGRES_PASSWORD:?")
    assert grafana.startswith("${GRAFANA_ADMIN_PASSWORD:?")


def test_every_bind_mount_exists() -> None:
    """Each file or folder compose mounts from the repository is really there."""
    named = set(compose()["volumes"])
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source in named:
                continue
            assert (COMPOSE.parent / source).exists(), f"{name}: {source}"


def test_prometheus_scrapes_both_workers_on_the_metrics_port() -> None:
    """The compose Prometheus scrapes worker-1 and worker-2 on the configured metrics.port."""
    port = load_yaml(DEPLOY / "compose.config.yaml")["metrics"]["port"]
    scrape = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")["scrape_configs"]
    job = next(j for j in scrape if j["job_name"] == "churnwatch")
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    assert targets == {f"worker-1:{port}", f"worker-2:{port}"}


def test_grafana_is_provisioned_with_the_dashboard() -> None:
    """Grafana mounts the provisioning folder and the dashboard where the provider looks."""
    grafana = services()["grafana"]
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "churnwatch.yaml")
    path = provider["providers"][0]["options"]["path"]
    targets = {v.split(":")[1] for v in grafana["volumes"]}
    assert "/etc/grafana/provisioning" in targets
    assert f"{path}/churnwatch-dashboard.json" in targets


def test_the_schema_is_upgraded_once_before_workers_and_web_start() -> None:
    """A db-upgrade one-shot runs ``churnwatch db upgrade``; the workers and web wait for it
    to finish, so they never race to create the schema."""
    upgrade = services()["db-upgrade"]
    assert upgrade["command"] == ["db", "upgrade"]
    assert upgrade["restart"] == "no"
    for name in ("worker-1", "worker-2", "web"):
        condition = services()[name]["depends_on"]["db-upgrade"]["condition"]
        assert condition == "service_completed_successfully", name
