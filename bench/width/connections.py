"""The operator's connections to the API server, seen from outside the process.

Two independent views, neither asking the operator:

- the process's own sockets: the inodes behind ``/proc/<pid>/fd`` matched against the
  ESTABLISHED rows of ``/proc/<pid>/net/tcp`` and ``tcp6`` whose remote port is the API
  server's. A watch holds one HTTP/1.1 connection for as long as it runs; a pooled request
  connection stays open only for the transport's keep-alive (aiohttp: 15 s), so the minimum
  over an idle window longer than that counts the watches alone;
- the API server's ``apiserver_longrunning_requests`` gauge (verb ``WATCH``) by resource and
  scope: every client's watches, so only its change between two moments says anything about one
  client (the benchmark takes the drop when the operator stops: other components may open
  watches of their own meanwhile); a per-namespace watch shows as ``scope="namespace"``.

Both are compared with the operator's own count of its informers (:func:`informers`).

The parsers are pure; :func:`established_to` and :func:`socket_inodes` read ``/proc``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import yaml

ESTABLISHED = "01"
"""``st`` of an established socket in ``/proc/net/tcp``."""


@dataclass(frozen=True)
class TcpRow:
    local_port: int
    remote_port: int
    state: str
    inode: int


def parse_tcp(text: str) -> list[TcpRow]:
    """The rows of a ``/proc/<pid>/net/tcp`` or ``tcp6`` table (its header line skipped)."""
    rows = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, remote = fields[1], fields[2]
        rows.append(TcpRow(int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16), fields[3],
                           int(fields[9])))
    return rows


def socket_inode(link: str) -> int | None:
    """The inode of an fd's link target ``socket:[12345]``; None for anything else."""
    if link.startswith("socket:[") and link.endswith("]"):
        return int(link[8:-1])
    return None


def count_established(rows: Iterable[TcpRow], inodes: set[int], remote_port: int) -> int:
    """Established connections among ``rows`` to ``remote_port`` whose socket is one of ``inodes``."""
    return sum(1 for r in rows if r.state == ESTABLISHED and r.remote_port == remote_port and r.inode in inodes)


def socket_inodes(pid: int) -> set[int]:
    """The socket inodes process ``pid`` holds open (fds closed while reading are skipped)."""
    found = set()
    fds = Path(f"/proc/{pid}/fd")
    for fd in os.listdir(fds):
        try:
            inode = socket_inode(os.readlink(fds / fd))
        except OSError:
            continue
        if inode is not None:
            found.add(inode)
    return found


def established_to(pid: int, remote_port: int) -> int:
    """How many established TCP connections process ``pid`` holds to ``remote_port`` (any address)."""
    inodes = socket_inodes(pid)
    rows = [row for table in ("tcp", "tcp6") if (path := Path(f"/proc/{pid}/net/{table}")).exists()
            for row in parse_tcp(path.read_text())]
    return count_established(rows, inodes, remote_port)


def informers(metrics: str) -> list[str]:
    """The operator's informers (one watch each), by the ``resource`` label of its
    ``*_informer_objects`` gauge in its ``/metrics`` text."""
    found = []
    for line in metrics.splitlines():
        name, _, rest = line.partition("{")
        if name.endswith("_informer_objects") and rest.startswith('resource="'):
            found.append(rest[len('resource="'):rest.index('"', len('resource="'))])
    return found


def longrunning_watches(metrics: str) -> dict[str, int]:
    """From the API server's ``/metrics`` text: the open WATCH requests, ``total`` and per
    ``scope=<scope>`` and ``resource=<resource>``."""
    out: Counter[str] = Counter()
    for line in metrics.splitlines():
        if not line.startswith("apiserver_longrunning_requests{") or 'verb="WATCH"' not in line:
            continue
        labels_text, value = line[line.index("{") + 1:].rsplit("}", 1)
        labels = dict(part.split("=", 1) for part in labels_text.split(",") if "=" in part)
        n = round(float(value))
        out["total"] += n
        out[f"scope={labels.get('scope', '').strip(chr(34))}"] += n
        out[f"resource={labels.get('resource', '').strip(chr(34))}"] += n
    return dict(out)


def server_port(kubeconfig: str) -> int:
    """The API server's port from a kubeconfig's current (else first) cluster."""
    doc = yaml.safe_load(kubeconfig)
    context = next((c["context"] for c in doc.get("contexts") or () if c["name"] == doc.get("current-context")),
                   None)
    clusters = doc["clusters"]
    cluster = next((c["cluster"] for c in clusters if context and c["name"] == context.get("cluster")),
                   clusters[0]["cluster"])
    url = urlparse(cluster["server"])
    return url.port or (443 if url.scheme == "https" else 80)
