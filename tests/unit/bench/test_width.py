"""bench.width's pure parts: /proc socket tables, the API server's WATCH gauge, the kubeconfig's
port, and the report's figures and goals."""

from __future__ import annotations

from typing import Any

import pytest

from bench.spawn.phases import DONE, SENT, Spawn
from bench.width.connections import (
    count_established,
    informers,
    longrunning_watches,
    parse_tcp,
    server_port,
    socket_inode,
)
from bench.width.report import ONE, WIDE, goals, markdown, per_unit, ratios, summary_of

# Two rows of /proc/net/tcp: an established connection to :6443 (0x192B) and a listening socket.
TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:A1B2 0100007F:192B 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 20 4 30 10 -1
   1: 0100007F:192B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4343 1 0 100 0 0 10 0
"""
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when \
retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:C000 0000000000000000FFFF00000100007F:192B 01 00000000:00000000 00:00000000 \
00000000     0        0 5151 1 0 20 4 30 10 -1
"""


def test_the_tcp_tables_give_ports_states_and_inodes() -> None:
    rows = parse_tcp(TCP) + parse_tcp(TCP6)
    assert [(r.local_port, r.remote_port, r.state, r.inode) for r in rows] == [
        (0xA1B2, 6443, "01", 4242), (6443, 0, "0A", 4343), (0xC000, 6443, "01", 5151)]


def test_only_the_process_s_own_established_sockets_to_the_port_count() -> None:
    rows = parse_tcp(TCP) + parse_tcp(TCP6)
    assert count_established(rows, {4242, 4343, 5151}, 6443) == 2
    assert count_established(rows, {4242}, 6443) == 1  # 5151 is another process's
    assert count_established(rows, {4343}, 6443) == 0  # listening, not established
    assert count_established(rows, {4242, 5151}, 443) == 0


def test_the_operator_s_informers_come_from_its_informer_objects_gauge() -> None:
    metrics = ('# HELP jupyternetes_informer_objects Objects in an informer\'s cache\n'
               'jupyternetes_informer_objects{resource="pods"} 12.0\n'
               'jupyternetes_informer_objects{resource="jupyternotebookinstances"} 3.0\n'
               'jupyternetes_informer_events_total{resource="pods",type="ADDED"} 12.0\n')
    assert informers(metrics) == ["pods", "jupyternotebookinstances"]


def test_fd_links_name_socket_inodes() -> None:
    assert socket_inode("socket:[4242]") == 4242
    assert socket_inode("pipe:[1]") is None
    assert socket_inode("/dev/null") is None


def test_the_api_server_s_open_watches_by_scope_and_resource() -> None:
    gauge = "apiserver_longrunning_requests"
    common = 'component="apiserver",group="",resource="pods"'
    metrics = "\n".join([
        f"# TYPE {gauge} gauge",
        f'{gauge}{{{common},scope="cluster",subresource="",verb="WATCH"}} 3',
        f'{gauge}{{{common},scope="namespace",subresource="",verb="WATCH"}} 1',
        f'{gauge}{{{common},scope="resource",subresource="log",verb="GET"}} 2',
        f'{gauge}_other{{verb="WATCH"}} 9'])
    assert longrunning_watches(metrics) == {"total": 4, "scope=cluster": 3, "scope=namespace": 1,
                                            "resource=pods": 4}
    assert longrunning_watches("") == {}


def test_the_server_port_comes_from_the_current_context_s_cluster() -> None:
    kubeconfig = """
clusters:
- {name: a, cluster: {server: "https://127.0.0.1:6443"}}
- {name: b, cluster: {server: "https://10.0.0.1"}}
contexts:
- {name: ca, context: {cluster: a, user: u}}
- {name: cb, context: {cluster: b, user: u}}
current-context: cb
"""
    assert server_port(kubeconfig) == 443
    assert server_port(kubeconfig.replace("current-context: cb", "current-context: ca")) == 6443


def test_per_unit_is_the_growth_divided() -> None:
    assert per_unit(100e6, 140e6, 1000) == pytest.approx(40e3)
    assert per_unit(1.0, 2.0, 0) is None


def spawns(latency_ms: float, n: int = 5) -> list[Spawn]:
    return [Spawn(f"k{i}", {SENT: float(i), DONE: i + latency_ms / 1000}) for i in range(n)]


def stage(namespaces: int, instances: int, rss: float, conns: int, watches: int, ns_scoped: int = 0,
          ready: int | None = None) -> dict[str, Any]:
    return {"namespaces": namespaces, "instances": instances, "rss_mb": rss, "idle_cpu_percent": 0.3,
            "connections": {"min": conns, "max": conns + 3, "samples": [conns]},
            "apiserver_watches": {"total": watches + 100, "scope=namespace": ns_scoped},
            "operator_watches_apiserver": watches, "operator_informers": ["r"] * 8,
            "created": instances - 2 if ready is None else instances,
            "ready": instances - 2 if ready is None else ready}


def raw(one_ms: float, wide_ms: float, bare_ms: float = 10.0) -> dict[str, Any]:
    return {"spawns": {"bare@one": spawns(bare_ms), "jupyternetes@one": spawns(one_ms),
                       "bare@wide": spawns(bare_ms), "jupyternetes@wide": spawns(wide_ms)},
            "windows": {}, "operator": {"rss_samples_mb": [(0.0, 50.0)], "connection_samples": [(0.0, 8)]}}


def test_a_width_summary_compares_the_wide_stage_with_the_one_namespace_stage() -> None:
    stages = {ONE: stage(1, 102, 60.0, 8, 8), WIDE: stage(1001, 10102, 110.0, 8, 8)}
    s = summary_of({"namespaces": 1000, "per_namespace": 10, "n": 5}, raw(20.0, 21.0), stages, (1.0, 1.0, 1.0))
    assert s["rss_per_namespace_kb"] == pytest.approx(50.0)
    assert s["rss_per_instance_kb"] == pytest.approx(5.0)
    assert s["p50_wide_over_one"]["jupyternetes"] == pytest.approx(1.05)
    assert s["p50_wide_over_one"]["bare"] == pytest.approx(1.0)
    assert all(g["met"] for g in s["goals"].values())
    text = markdown(s)
    assert "**50.0 KB**" in text
    assert "| one | 1 | 102 | 60 |" in text
    assert "not met" not in text


def test_the_goals_fail_on_more_connections_namespaced_watches_unready_instances_or_a_slower_p50() -> None:
    one = stage(1, 102, 60.0, 8, 8)
    failed = goals({ONE: one, WIDE: stage(1001, 10102, 110.0, 9, 1008, ns_scoped=1000, ready=9000)},
                   ratios(summary_of({"namespaces": 1000, "per_namespace": 10, "n": 5}, raw(20.0, 23.0),
                                     {ONE: one, WIDE: one}, (0.0,))["results"]))
    assert not any(g["met"] for g in failed.values())


def test_a_slower_cluster_fails_the_raw_p50_goal_but_not_the_one_relative_to_bare_pods() -> None:
    stages = {ONE: stage(1, 102, 60.0, 8, 8), WIDE: stage(1001, 10102, 110.0, 8, 8)}
    results = {"bare@one": {"latency": {"p50": 10.0}}, "jupyternetes@one": {"latency": {"p50": 20.0}},
               "bare@wide": {"latency": {"p50": 16.0}}, "jupyternetes@wide": {"latency": {"p50": 33.0}}}
    g = goals(stages, ratios(results))
    raw_goal, relative = (g[k] for k in g if k.startswith("sequential p50"))
    assert not raw_goal["met"]
    assert raw_goal["measured"] == "1.65x"
    assert relative["met"]
    assert relative["measured"] == "1.03x (bare pods 1.60x)"
    results["jupyternetes@wide"] = {"latency": {"p50": 40.0}}  # the operator's own share grew by 25 %
    assert not next(v for k, v in goals(stages, ratios(results)).items() if k.endswith("relative to bare pods"))["met"]
