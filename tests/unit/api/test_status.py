"""The status vocabulary: the words as the CRDs spell them, and reading conditions and phases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes_operator import api
from jupyternetes_operator.api.status import condition, phase, status_condition
from jupyternetes_operator.machinery.store import freeze

CRDS = Path(__file__).resolve().parents[3] / "crds"


def crd(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((CRDS / f"{name}.yaml").read_text())
    return doc["spec"]["versions"][0]


def test_the_phases_are_the_crds_enum() -> None:
    status = crd("jupyternotebookinstances")["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert list(api.PHASES) == status["properties"]["phase"]["enum"]


@pytest.mark.parametrize(("name", "type_"), [("jupyternotebookinstances", api.READY),
                                             ("jupyternotebooktemplates", api.VALID)])
def test_the_printed_columns_read_the_condition_types(name: str, type_: str) -> None:
    paths = [c["jsonPath"] for c in crd(name)["additionalPrinterColumns"]]
    assert f'.status.conditions[?(@.type=="{type_}")].status' in paths


READY = {"type": "Ready", "status": "False", "reason": "Provisioning", "message": "pulling"}
INSTANCE = {"metadata": {"name": "i"}, "status": {"phase": "Provisioning", "conditions": [
    {"type": "TemplateResolved", "status": "True", "reason": "Resolved"}, READY]}}


def test_condition_is_found_by_type_not_by_position() -> None:
    assert condition(INSTANCE, api.READY) == READY
    assert condition(INSTANCE, api.TEMPLATE_RESOLVED)["reason"] == "Resolved"


@pytest.mark.parametrize("obj", [None, {}, {"status": None}, {"status": {}}, {"status": {"conditions": None}},
                                 {"status": {"conditions": [{"type": "Valid", "status": "True"}]}},
                                 {"status": {"conditions": [{"status": "True"}]}}])
def test_an_absent_condition_is_empty(obj: dict[str, Any] | None) -> None:
    assert condition(obj, api.READY) == {}


def test_status_condition_reads_a_status_alone() -> None:
    assert status_condition(INSTANCE["status"], api.READY) == READY
    assert status_condition(None, api.READY) == {}


def test_cached_objects_are_read_as_they_are() -> None:
    frozen = freeze(INSTANCE)
    assert condition(frozen, api.READY)["message"] == "pulling"
    assert phase(frozen) == api.PROVISIONING


@pytest.mark.parametrize(("obj", "expected"), [(INSTANCE, "Provisioning"), (None, ""), ({}, ""),
                                               ({"status": {}}, ""), ({"status": {"phase": None}}, "")])
def test_phase(obj: dict[str, Any] | None, expected: str) -> None:
    assert phase(obj) == expected
