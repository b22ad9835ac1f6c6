"""Print the churnwatch-rules ConfigMap for a rule directory (default: the shipped pack).

    python deploy/kubernetes/render_rules_configmap.py > deploy/kubernetes/configmap-rules.yaml
    python deploy/kubernetes/render_rules_configmap.py /srv/bank-rules | kubectl apply -f -

Only rule files go in (tests stay out), with the same selection the rule loader makes, and
in a stable order, so the output is reviewable in a diff. tests/deploy checks the committed
configmap-rules.yaml is this script's output for rules/pack.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from churnwatch.rules.loader import rule_files

HEADER = """\
# The rule files compliance own, mounted as a directory at /etc/churnwatch/rules.
# Workers watch it: after `kubectl apply`, the kubelet swaps the files in (within about
# a minute) and each worker reloads them, all-or-nothing, without a restart.
# Generated from rules/pack (*.test.yaml left out); do not edit by hand:
#   python deploy/kubernetes/render_rules_configmap.py [RULES_DIR] > configmap-rules.yaml
# Test a change first: churnwatch rules check RULES_DIR && churnwatch rules test RULES_DIR
"""


def render(directory: Path) -> str:
    """The ConfigMap manifest, as YAML text, holding every rule file of ``directory``."""
    data = {
        p.name: LiteralScalarString(p.read_text(encoding="utf-8")) for p in rule_files(directory)
    }
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "churnwatch-rules",
            "namespace": "churnwatch",
            "labels": {"app.kubernetes.io/name": "churnwatch"},
        },
        "data": data,
    }
    yaml = YAML()
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(doc, out)
    return HEADER + out.getvalue()


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[2] / "rules" / "pack"
    sys.stdout.write(render(Path(sys.argv[1]) if len(sys.argv) > 1 else default))
