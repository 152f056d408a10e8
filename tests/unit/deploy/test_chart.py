"""The Helm chart's copies of deploy/ and crds/ as files (Helm reads nothing outside the chart):
byte-identical, so the chart and kustomize share one source. tests/integration/test_helm_chart.py
renders both and compares the objects."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[3]
CHART = ROOT / "charts" / "jupyternetes"

COPIES = [
    *((p, CHART / "crds" / p.name) for p in sorted((ROOT / "crds").glob("*.yaml"))),
    (ROOT / "deploy" / "monitoring" / "prometheusrule.yaml", CHART / "files" / "prometheusrule.yaml"),
    (ROOT / "deploy" / "monitoring" / "grafana-dashboard.json", CHART / "files" / "grafana-dashboard.json"),
]


@pytest.mark.parametrize(("source", "copy"), COPIES, ids=[str(c.relative_to(CHART)) for _, c in COPIES])
def test_chart_copies_match_their_sources(source: Path, copy: Path) -> None:
    assert copy.read_bytes() == source.read_bytes(), f"run: cp {source.relative_to(ROOT)} {copy.relative_to(ROOT)}"


def test_chart_crds_are_all_the_crds() -> None:
    assert {p.name for p in (CHART / "crds").iterdir()} == {p.name for p in (ROOT / "crds").glob("*.yaml")}


def test_every_default_value_is_in_the_schema() -> None:
    """values.schema.json refuses unknown keys, so each default must be declared (and typed)."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(value: object, node: dict[str, object], path: str) -> None:
        if isinstance(value, dict) and node.get("additionalProperties") is False:
            properties = node["properties"]
            assert isinstance(properties, dict)
            for key, child in value.items():
                assert key in properties, f"{path}.{key} is not in values.schema.json"
                walk(child, properties[key], f"{path}.{key}")

    assert schema["additionalProperties"] is False
    walk(values, schema, "")


def test_chart_settings_name_real_flags() -> None:
    """Every JUPYTERNETES_* the chart sets or its z2jh values file sets is a `run` flag's variable."""
    from jupyternetes_operator.cli import _parser

    known = {f"JUPYTERNETES_{dest.upper()}" for dest in vars(_parser().parse_args(["run"])) if dest != "command"}
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    named = set(re.findall(r'"(JUPYTERNETES_[A-Z_]+)"', helpers))
    assert named, "the settings helper names no variable"
    z2jh = yaml.safe_load((ROOT / "deploy" / "z2jh" / "jupyternetes-values.yaml").read_text())
    named |= set(z2jh["env"])
    assert named <= known, named - known
