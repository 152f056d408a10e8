"""deploy/monitoring/ with the real tools: promtool checks and unit-tests the alerts; every
dashboard query parses and names only metrics a running operator exports; a real Prometheus
(Debian's ``prometheus`` package) scrapes a running operator, loads the alert rules, and
answers the dashboard's spawn-latency quantile after a few spawns."""

from __future__ import annotations

import json
import math
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes_operator.testing import ControlPlane

from .operator_harness import TEMPLATE, instance

MONITORING = Path(__file__).parents[2] / "deploy" / "monitoring"
JOB = "jupyternetes-operator-metrics"
# Grafana's variables, replaced by what Grafana would send.
GRAFANA_VARS = {"$__rate_interval": "1m", "${datasource}": "prometheus", "$job": JOB}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                "offset", "inf", "nan"}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install Debian's prometheus package (.ci/run does)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rule_groups() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())["spec"]
    return spec


def alert_exprs() -> dict[str, str]:
    return {r["alert"]: r["expr"] for g in rule_groups()["groups"] for r in g["rules"] if "alert" in r}


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", ())]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            exprs.append(re.sub(r"^label_values\((\w+), \w+\)$", r"\1", var["query"]["query"]))
    return [grafana(e) for e in exprs]


def grafana(expr: str) -> str:
    for name, value in GRAFANA_VARS.items():
        expr = expr.replace(name, value)
    return expr


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (label matchers, groupings, strings and ranges removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*(?:\s*\()?", expr):
        token = match.group(0)
        if token.endswith("(") or token.rstrip().lower() in PROMQL_WORDS:
            continue
        names.add(token.strip())
    return names


def promtool_check(exprs: list[str], tmp_path: Path) -> None:
    rules = {"groups": [{"name": "parse", "rules": [{"record": f"check:expr{i}", "expr": e}
                                                     for i, e in enumerate(exprs)]}]}
    path = tmp_path / "parse.yaml"
    path.write_text(yaml.safe_dump(rules))
    proc = subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- without a cluster ---------------------------------------------------------------------------


def test_promtool_checks_and_unit_tests_the_rules(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_groups()))
    shutil.copy(MONITORING / "tests" / "alerts.test.yaml", tmp_path)
    promtool = tool("promtool")
    check = subprocess.run([promtool, "check", "rules", "rules.yaml"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=30, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run([promtool, "test", "rules", "alerts.test.yaml"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)
    assert test.returncode == 0, test.stdout + test.stderr


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    cases = yaml.safe_load((MONITORING / "tests" / "alerts.test.yaml").read_text())["tests"]
    fired, quiet = set(), set()
    for case in cases:
        for check in case["alert_rule_test"]:
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    alerts = set(alert_exprs())
    assert alerts == fired, alerts ^ fired
    assert alerts == quiet, alerts ^ quiet
    assert {"JupyternetesOperatorDown", "JupyternetesNoLeader", "JupyternetesReconcileErrors",
            "JupyternetesSpawnLatencyHigh", "JupyternetesWorkQueueBacklog", "JupyternetesWatchRelistStorm",
            "JupyternetesInstancesStuckProvisioning"} <= alerts


def test_dashboard_is_json_and_every_query_parses(tmp_path: Path) -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    titles = " | ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("spawn latency", "spawns per second", "instances by phase", "reconciles", "reconcile errors",
                  "queue depth", "queue latency", "api requests", "leader", "memory", "cpu"):
        assert topic in titles, topic
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    promtool_check(dashboard_exprs(), tmp_path)


# -- against a running operator ------------------------------------------------------------------


def _get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except OSError as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}"[:2000])


@pytest.fixture(scope="module")
def operator(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """An operator process (admin credentials; RBAC is test_rbac's business) scraped every second
    by a real Prometheus that loads the alert rules; three notebooks are spawned while it
    watches. Yields the operator's and Prometheus's addresses."""
    directory = tmp_path_factory.mktemp("monitoring")
    ns = f"monitoring-{int(time.time())}"
    control_plane.kubectl("create", "namespace", ns)
    port, prometheus_port = free_port(), free_port()
    base, api = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{prometheus_port}"
    (directory / "rules.yaml").write_text(yaml.safe_dump(rule_groups()))
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "rule_files": [str(directory / "rules.yaml")],
              "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}]}
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    procs = []
    try:
        with (directory / "operator.log").open("wb") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "jupyternetes_operator", "run", f"--kubeconfig={control_plane.kubeconfig}",
                 f"--namespaces={ns}", f"--lease-namespace={ns}", "--lease-duration=4", "--renew-deadline=3",
                 "--retry-period=0.5", f"--bind-address=127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT))
        with (directory / "prometheus.log").open("wb") as out:
            procs.append(subprocess.Popen(
                [tool("prometheus"), f"--config.file={directory / 'prometheus.yml'}",
                 f"--storage.tsdb.path={directory / 'data'}", f"--web.listen-address=127.0.0.1:{prometheus_port}"],
                stdout=out, stderr=subprocess.STDOUT))
        _wait(lambda: _get(f"{base}/readyz") == "ok", 30, "operator ready")
        _wait(lambda: "Ready" in _get(f"{api}/-/ready"), 30, "prometheus ready")
        _wait(lambda: query(api, f'up{{job="{JOB}"}} == 1'), 20, "a successful scrape")
        control_plane.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(TEMPLATE))
        for user in ("ann", "ben", "cat"):
            control_plane.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(instance(f"jupyter-{user}",
                                                                                          {"username": user})))
        _wait(lambda: "jupyternetes_spawn_duration_seconds_count 3.0" in _get(f"{base}/metrics"), 45,
              "three spawns")
        yield base, api
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        control_plane.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def query(api: str, expr: str) -> list[dict[str, Any]]:
    body = json.loads(_get(f"{api}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"))
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def exported(metrics_text: str) -> set[str]:
    names = set()
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            if kind == "counter":
                names |= {name if name.endswith("_total") else f"{name}_total"}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def test_dashboard_and_alerts_use_only_exported_metrics(operator: tuple[str, str]) -> None:
    have = exported(_get(f"{operator[0]}/metrics")) | {"up"}  # `up` is Prometheus's own
    used = {name for expr in [*dashboard_exprs(), *alert_exprs().values()] for name in metric_names(expr)}
    process = {n for n in used if n.startswith("process_")}
    assert process, "the memory/CPU panels"
    assert used - process <= have, f"not exported by the operator: {sorted(used - process - have)}"


def test_the_operator_exports_process_metrics(operator: tuple[str, str]) -> None:
    have = exported(_get(f"{operator[0]}/metrics"))
    process = {"process_resident_memory_bytes", "process_cpu_seconds_total"}
    assert process <= have, (
        f"the dashboard's memory/CPU panels need {sorted(process - have)}: the operator's registry must "
        "include prometheus_client's ProcessCollector (jupyternetes_operator/metrics.py)")


def test_prometheus_answers_the_spawn_quantile_and_evaluates_the_alerts(operator: tuple[str, str]) -> None:
    api = operator[1]
    # The fixture saw three spawns on the operator's /metrics; Prometheus has them only after its next
    # scrape, so wait on what Prometheus itself answers (the value asserted), not on the operator.
    counted = _wait(lambda: [r for r in query(api, "jupyternetes_spawn_duration_seconds_count")
                             if float(r["value"][1]) >= 3], 30, "Prometheus to have scraped three spawns")
    assert float(counted[0]["value"][1]) == 3, counted
    # The dashboard's own p99 panel query, over spawns Prometheus watched happen.
    p99 = next(e for e in dashboard_exprs() if e.startswith("histogram_quantile(0.99") and "spawn" in e)
    result = _wait(lambda: [r for r in query(api, p99) if math.isfinite(float(r["value"][1]))], 30,
                   "a finite spawn-latency p99")
    assert 0 < float(result[0]["value"][1]) <= 60, result
    # Every alert rule evaluates against the real series without an error, and none fires.
    rules = _wait(lambda: [r for g in json.loads(_get(f"{api}/api/v1/rules"))["data"]["groups"] for r in g["rules"]
                           if r.get("lastEvaluation", "").startswith("2")], 10, "rules evaluated")
    assert {r["name"] for r in rules} == set(alert_exprs())
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
    assert not [r["name"] for r in rules if r["state"] == "firing"]
