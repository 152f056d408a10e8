"""Every tenant rule has a flag and an environment variable; the defaults are the strict ones."""

from __future__ import annotations

import pytest

from jupyternetes_operator.cli import _parser, settings_from
from jupyternetes_operator.reconcile.policy import Policy
from jupyternetes_operator.reconcile.tenant import TenantPolicy, VariableReferences
from jupyternetes_operator.settings import Settings


def tenant(*argv: str) -> TenantPolicy:
    return settings_from(_parser().parse_args(["run", *argv])).tenant


def test_defaults_are_strict_and_match_the_settings_and_policy_defaults() -> None:
    assert tenant() == TenantPolicy() == Settings().tenant == Policy().tenant
    strict = TenantPolicy()
    assert strict.variable_references == VariableReferences.DECLARED
    assert strict.service_accounts == {"default"}
    assert (strict.token_audiences, strict.priority_classes, strict.runtime_classes) == (frozenset(),) * 3
    assert (strict.node_name, strict.external_ips, strict.pvc_binding) == (False, False, False)
    assert strict.service_types == {"ClusterIP"}
    assert strict.pvc_data_sources == {"snapshot.storage.k8s.io/VolumeSnapshot"}


def test_every_flag_loosens_its_rule() -> None:
    assert tenant(
        "--variable-references=any", "--allowed-service-accounts=default, builder", "--allowed-token-audiences=vault",
        "--allowed-priority-classes=high", "--allowed-runtime-classes=gvisor", "--allow-node-name=true",
        "--allowed-service-types=ClusterIP,NodePort", "--allow-external-ips=true", "--allow-pvc-binding=true",
        "--allowed-pvc-data-sources=PersistentVolumeClaim",
    ) == TenantPolicy(
        variable_references=VariableReferences.ANY, service_accounts=frozenset({"default", "builder"}),
        token_audiences=frozenset({"vault"}), priority_classes=frozenset({"high"}),
        runtime_classes=frozenset({"gvisor"}), node_name=True, service_types=frozenset({"ClusterIP", "NodePort"}),
        external_ips=True, pvc_binding=True, pvc_data_sources=frozenset({"PersistentVolumeClaim"}))


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERNETES_ALLOW_NODE_NAME", "true")
    monkeypatch.setenv("JUPYTERNETES_ALLOWED_SERVICE_ACCOUNTS", "")
    monkeypatch.setenv("JUPYTERNETES_VARIABLE_REFERENCES", "never")
    loosened = tenant()
    assert loosened.node_name is True
    assert loosened.service_accounts == frozenset()  # stricter still: no pod may run at all without an account
    assert loosened.variable_references == VariableReferences.NEVER


def test_invalid_values_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown Service types"):
        tenant("--allowed-service-types=Nodeport")
    with pytest.raises(ValueError, match="group/Kind"):
        tenant("--allowed-pvc-data-sources=snapshot.storage.k8s.io/volumesnapshot")
    with pytest.raises(SystemExit):
        tenant("--variable-references=sometimes")
