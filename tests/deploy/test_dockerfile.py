"""deploy/Dockerfile: the image the issue asks for (no Docker daemon needed to check it)."""

from __future__ import annotations

import re

from deploy_files import DEPLOY, REPO

DOCKERFILE = DEPLOY / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def test_runtime_is_python_3_11_slim() -> None:
    """Every stage starts from python:3.11-slim."""
    bases = [args.split()[0] for word, args in instructions() if word == "FROM"]
    assert bases and all(base == "python:3.11-slim" for base in bases)


def test_installs_the_postgres_and_rocksdb_extras() -> None:
    """The package is installed with the postgres and rocksdb extras, from wheels built here."""
    runs = " ".join(args for word, args in instructions() if word == "RUN")
    assert "'.[postgres,rocksdb]'" in runs
    assert "'churnwatch[postgres,rocksdb]'" in runs


def test_runs_as_a_non_root_user() -> None:
    """The final stage switches to uid 10001, the uid the Kubernetes manifests expect."""
    users = [args for word, args in final_stage() if word == "USER"]
    assert users and users[-1].split(":")[0] == "10001"


def test_entrypoint_is_the_worker_with_a_healthcheck() -> None:
    """The image runs `churnwatch worker` by default and health-checks /healthz."""
    stage = dict(final_stage())
    assert stage["ENTRYPOINT"] == '["churnwatch"]'
    assert stage["CMD"].startswith('["worker"')
    assert "/healthz" in stage["HEALTHCHECK"]


def test_the_build_context_filter_keeps_the_package_sources() -> None:
    """The .dockerignore beside the Dockerfile drops the venv but none of the packages."""
    ignored = {
        line.strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert ".venv" in ignored and ".git" in ignored
    for package in ("streams", "rules", "schemas", "notifiers", "pyproject.toml"):
        assert package not in ignored
    assert (REPO / "pyproject.toml").exists()
