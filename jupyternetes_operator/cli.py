"""Command line: argv -> the chosen command. Heavy imports happen inside each command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .reconcile.policy import DEFAULT_ALLOWED_KINDS as DEFAULT_KINDS
from .reconcile.policy import Policy
from .reconcile.tenant import (
    DEFAULT_PVC_DATA_SOURCES,
    DEFAULT_SERVICE_ACCOUNTS,
    DEFAULT_SERVICE_TYPES,
    TenantPolicy,
    VariableReferences,
)
from .settings import LeaderElectionSettings, Settings


def _version() -> str:
    try:
        return version("jupyternetes-operator")
    except PackageNotFoundError:
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyternetes-operator",
        description="Jupyternetes: JupyterHub notebook servers rendered from templates by a Kubernetes operator.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="run the operator",
        description="Run the operator. Every flag can also be set by the environment variable shown.")
    _run_flags(run)

    render = commands.add_parser(
        "render", help="show what a template renders for given variables, and what the operator would say",
        description="Render a template for an instance (made up from --set and --values, or an existing one) "
                    "into its children's YAML on stdout, exactly as the operator would, with the template's Valid "
                    "condition, the instance's outcome and every policy finding on stderr. Offline unless the "
                    "template or instance is read from the cluster or --server-dry-run is given. Exit status: 0 "
                    "the instance would be provisioned, 1 the operator would refuse it, 2 bad input.")
    _render_flags(render)

    prepare = commands.add_parser(
        "prepare", help="make users' homes before their first spawn (prepare requests)",
        description="Create one prepare request per JupyterHub user: the operator makes the template's retained "
                    "claims (the user's home) with the username the spawner gives that user, signs them once Bound, "
                    "and the user's first spawn adopts the bound home instead of waiting for it. Exit status 0 "
                    "when every request is there (with --wait: Prepared), else 1.")
    prepare.add_argument("users", nargs="*", metavar="USER", help="JupyterHub user names")
    prepare.add_argument("--users-file", type=argparse.FileType("r"), action="append", default=[], metavar="FILE",
                         help="a file of user names, one per line ('#' comments; '-' for stdin; repeatable)")
    prepare.add_argument("-n", "--namespace", required=True, help="the namespace the hub spawns in")
    prepare.add_argument("--template", required=True, help="the template the users' servers are rendered from")
    prepare.add_argument("--template-namespace", default=None, help="the template's namespace, if not the same")
    prepare.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                         help="wait up to SECONDS for every home, showing progress, then delete the Prepared "
                              "requests (the homes stay)")
    prepare.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG", ""), help="kubeconfig path [KUBECONFIG]")

    dev = commands.add_parser(
        "dev-cluster", help="a local control plane (etcd, apiserver, kwok) for development",
        description="A local control plane for development. Its state (etcd's data, certificates, logs) lives in "
                    "one directory: 'down' stops the processes and keeps it, so the next 'up' resumes the same "
                    "cluster with every object it held; only 'delete' (or 'up --fresh') removes it.")
    dev_commands = dev.add_subparsers(dest="action", required=True)
    dev_commands.add_parser("build", help="build (or find cached) the control-plane binaries and helm")
    for name, text in (("up", "build and start the cluster in the background; resumes a kept state"),
                       ("down", "stop the background cluster; its state is kept and the next 'up' resumes it"),
                       ("delete", "stop the cluster if it runs and delete its state (like 'kind delete cluster')"),
                       ("env", "print shell exports for the running cluster (KUBECONFIG; kubectl and helm on PATH)"),
                       ("serve", "run the cluster in the foreground (what 'up' starts)")):
        sub = dev_commands.add_parser(name, help=text, description=text)
        sub.add_argument("--dir", type=Path, default=None, help="state directory (default: in the cache)")
        if name in ("up", "serve"):
            sub.add_argument("--nodes", type=int, default=2, help="fake kwok Nodes (default 2)")
            sub.add_argument("--operator", action="store_true", help="also run the operator against the cluster")
        if name == "up":
            sub.add_argument("--fresh", action="store_true",
                             help="delete the kept state first (as 'delete' does), so the cluster starts empty")
            sub.add_argument("--apply", type=Path, action="append", default=[], metavar="PATH",
                             help="manifest file or folder to apply once ready (repeatable)")
    return parser


def _env(name: str, default: str) -> str:
    return os.environ.get(f"JUPYTERNETES_{name}", default)


def _flag(p: argparse.ArgumentParser, name: str, default: str, text: str, **kw: Any) -> None:
    env = name.upper().replace("-", "_")
    p.add_argument(f"--{name}", default=_env(env, default), help=f"{text} [JUPYTERNETES_{env}]", **kw)


def _run_flags(p: argparse.ArgumentParser) -> None:
    def flag(name: str, default: str, text: str, **kw: Any) -> None:
        _flag(p, name, default, text, **kw)

    flag("namespaces", "", "comma-separated namespaces to watch; empty: all namespaces")
    flag("template-namespace", "", "a shared namespace whose templates every watched namespace may use")
    # Unset (None) is not empty: unset means the default set, which follows --lease-namespace;
    # an empty value excludes nothing.
    p.add_argument("--excluded-namespaces", default=os.environ.get("JUPYTERNETES_EXCLUDED_NAMESPACES"),
                   help="comma-separated namespaces the operator leaves alone when --namespaces is empty (all "
                        "namespaces); default: kube-system, kube-public, kube-node-lease and the lease "
                        "namespace; empty: none [JUPYTERNETES_EXCLUDED_NAMESPACES]")
    flag("workers", "32", "concurrent instance reconciles", type=int)
    flag("template-workers", "2", "concurrent template reconciles", type=int)
    flag("api-connections", "8", "API requests in flight at once, each on its own pooled connection "
         "(watches have their own)", type=int)
    flag("qps", "0", "client-side API request rate limit (0: off)", type=float)
    flag("burst", "100", "client-side API request burst", type=int)
    _policy_flags(p)
    flag("env-secret-wait", "30", "seconds an instance waits for the environment Secret it names (the hub "
         "creates it beside the instance) before it fails EnvSecretMissing", type=float)
    flag("adopt-unsigned-claims", "false",
         "adopt retained claims that carry no operator signature (claims made before signatures, upgrades); "
         "a wrong signature is never trusted", choices=["true", "false"])
    flag("leader-elect", "true", "use a Lease so that only one replica acts", choices=["true", "false"])
    flag("lease-name", "jupyternetes-operator", "the leader election Lease")
    flag("lease-namespace", os.environ.get("POD_NAMESPACE", "jupyternetes"), "the Lease's namespace")
    flag("lease-duration", "15", "seconds a lease is valid without renewal", type=float)
    flag("renew-deadline", "10", "seconds the leader keeps trying to renew before it stops acting", type=float)
    flag("retry-period", "2", "seconds between attempts to acquire or renew", type=float)
    flag("bind-address", "0.0.0.0:8080", "host:port for /metrics, /healthz and /readyz")
    flag("log-level", "info", "debug, info, warning or error")
    flag("log-format", "json", "json or text", choices=["json", "text"])
    flag("kubeconfig", os.environ.get("KUBECONFIG", ""), "kubeconfig path; empty: in-cluster config")
    flag("shutdown-timeout", "25", "seconds SIGTERM waits for in-flight reconciles", type=float)
    flag("watch-inactivity-timeout", "150", "seconds a watch may stay silent before it is cut and reopened",
         type=float)
    flag("prepull", "false", "keep the images of valid templates pulled on every node (one DaemonSet in the "
         "lease namespace; needs deploy/components/prepull)", choices=["true", "false"])
    flag("prepull-pause-image", "registry.k8s.io/pause:3.10", "the image puller's long-running container")


def _policy_flags(p: argparse.ArgumentParser) -> None:
    """The flags :func:`policy_from` reads: the Pod Security level, the kinds and the tenant policy."""
    def flag(name: str, default: str, text: str, **kw: Any) -> None:
        _flag(p, name, default, text, **kw)

    flag("pod-security-level", "baseline", "Pod Security Standard rendered pods must meet",
         choices=["privileged", "baseline", "restricted"])
    flag("allowed-kinds", ",".join(f"{v}/{k}" for v, k in sorted(DEFAULT_KINDS)),
         "comma-separated apiVersion/Kind pairs a template may render")
    # the tenant policy: strict defaults, each loosened deliberately
    flag("variable-references", "declared",
         "which template variables may fill identity and reference fields (service account, claim, Secret "
         "and ConfigMap names, node, selectors...): never, declared (allowReferences: true with an enum) or any",
         choices=["never", "declared", "any"])
    flag("allowed-service-accounts", ",".join(sorted(DEFAULT_SERVICE_ACCOUNTS)),
         "comma-separated service accounts a pod may run as")
    flag("allowed-token-audiences", "", "comma-separated audiences a projected service account token may have")
    flag("allowed-priority-classes", "", "comma-separated PriorityClasses a pod may name")
    flag("allowed-runtime-classes", "", "comma-separated RuntimeClasses a pod may name")
    flag("allow-node-name", "false", "let pods set nodeName (bypasses the scheduler)", choices=["true", "false"])
    flag("allowed-service-types", ",".join(sorted(DEFAULT_SERVICE_TYPES)),
         "comma-separated Service types a template may render (ClusterIP, NodePort, LoadBalancer, ExternalName)")
    flag("allow-external-ips", "false", "let Services set externalIPs", choices=["true", "false"])
    flag("allow-pvc-binding", "false", "let PVCs set volumeName or selector (bind an existing volume)",
         choices=["true", "false"])
    flag("allowed-pvc-data-sources", ",".join(sorted(DEFAULT_PVC_DATA_SOURCES)),
         "comma-separated group/Kind (Kind for the core group) a PVC's dataSource or dataSourceRef may name")


def _render_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("template", nargs="?", default=None,
                   help="the template's name: read from the cluster, or picked among those in --file")
    p.add_argument("-f", "--file", type=Path, default=None,
                   help="a YAML or JSON file holding the template (and possibly the instance); '-' for stdin")
    p.add_argument("-n", "--namespace", default=None,
                   help="the instance's namespace, where cluster objects are read (default: the template's, "
                        "else 'default')")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a variable (repeatable)")
    p.add_argument("--values", type=Path, action="append", default=[], metavar="FILE",
                   help="a YAML map of variables (repeatable; --set wins)")
    p.add_argument("--instance", default=None, metavar="NAME",
                   help="render for this existing instance (from --file, else the cluster), its variables "
                        "overridden by --values and --set; without TEMPLATE or --file its template is resolved "
                        "as the operator does")
    p.add_argument("--name", default="preview", help="the made-up instance's name (default: preview)")
    p.add_argument("--server-dry-run", action="store_true",
                   help="also dry-run every child on the API server (the template's probe children, as the "
                        "operator does, and the instance's own), under your kubeconfig's rights")
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG", ""), help="kubeconfig path [KUBECONFIG]")
    _flag(p, "template-namespace", "", "the operator's shared template namespace (when resolving an instance's)")
    _policy_flags(p)


def policy_from(args: argparse.Namespace) -> Policy:
    """The policy the operator would run under with these flags."""
    from .reconcile.policy import Level

    return Policy(Level(args.pod_security_level), _kinds(args.allowed_kinds), _tenant(args))


def _render_options(args: argparse.Namespace) -> Any:
    from .preview import Options, PreviewError, parse_values

    def read(path: Path) -> tuple[str, str]:
        try:
            return str(path), sys.stdin.read() if str(path) == "-" else path.read_text()
        except OSError as exc:
            raise PreviewError(f"{path}: {exc.strerror}") from None

    try:
        policy = policy_from(args)
    except ValueError as exc:
        raise PreviewError(f"invalid settings: {exc}") from None
    return Options(policy=policy, template=args.template, file=read(args.file) if args.file else None,
                   namespace=args.namespace, values=parse_values(args.set, [read(v) for v in args.values]),
                   instance=args.instance, name=args.name, server_dry_run=args.server_dry_run,
                   kubeconfig=args.kubeconfig or None, shared_namespace=args.template_namespace or None)


def _kinds(text: str) -> frozenset[tuple[str, str]]:
    kinds = set()
    for item in filter(None, (x.strip() for x in text.split(","))):
        api_version, _, kind = item.rpartition("/")
        if not api_version or not kind:
            raise SystemExit(f"--allowed-kinds: {item!r} is not apiVersion/Kind")
        kinds.add((api_version, kind))
    return frozenset(kinds)


def _names(text: str) -> frozenset[str]:
    return frozenset(filter(None, (x.strip() for x in text.split(","))))


def _tenant(args: argparse.Namespace) -> TenantPolicy:
    return TenantPolicy(
        variable_references=VariableReferences(args.variable_references),
        service_accounts=_names(args.allowed_service_accounts), token_audiences=_names(args.allowed_token_audiences),
        priority_classes=_names(args.allowed_priority_classes), runtime_classes=_names(args.allowed_runtime_classes),
        node_name=args.allow_node_name == "true", service_types=_names(args.allowed_service_types),
        external_ips=args.allow_external_ips == "true", pvc_binding=args.allow_pvc_binding == "true",
        pvc_data_sources=_names(args.allowed_pvc_data_sources))


def settings_from(args: argparse.Namespace) -> Settings:
    from .reconcile.policy import Level

    le = LeaderElectionSettings(enabled=args.leader_elect == "true", lease_name=args.lease_name,
                                lease_namespace=args.lease_namespace, lease_duration=args.lease_duration,
                                renew_deadline=args.renew_deadline, retry_period=args.retry_period)
    return Settings(
        namespaces=tuple(n.strip() for n in args.namespaces.split(",") if n.strip()),
        template_namespace=args.template_namespace or None,
        excluded_namespaces=None if args.excluded_namespaces is None else _names(args.excluded_namespaces),
        instance_workers=args.workers,
        template_workers=args.template_workers, api_connections=args.api_connections, qps=args.qps, burst=args.burst,
        pod_security_level=Level(args.pod_security_level), allowed_kinds=_kinds(args.allowed_kinds),
        tenant=_tenant(args), adopt_unsigned_claims=args.adopt_unsigned_claims == "true",
        env_secret_wait=args.env_secret_wait,
        leader_election=le, bind_address=args.bind_address, log_level=args.log_level, log_format=args.log_format,
        kubeconfig=args.kubeconfig or None, shutdown_timeout=args.shutdown_timeout,
        watch_inactivity_timeout=args.watch_inactivity_timeout, prepull=args.prepull == "true",
        prepull_pause_image=args.prepull_pause_image)


def _prepare(args: argparse.Namespace) -> int:
    import anyio

    from . import homes

    users = homes.users_from(args.users, args.users_file)
    if not users:
        raise SystemExit("jupyternetes-operator prepare: no user names given")
    return anyio.run(homes.run, homes.Options(users, args.namespace, args.template, args.template_namespace,
                                              args.wait, args.kubeconfig or None))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        import anyio

        from . import logs
        from .machinery.leader import LeadershipLost
        from .manager import run_operator

        try:
            settings = settings_from(args)
        except ValueError as exc:
            raise SystemExit(f"invalid settings: {exc}") from exc
        logs.configure(settings.log_level, settings.log_format)
        logging.getLogger(__name__).info("jupyternetes-operator %s starting from %s", _version(),
                                         Path(__file__).parent)
        lost = False
        try:
            anyio.run(run_operator, settings)
        except* LeadershipLost:
            logging.getLogger(__name__).error("lost the leader lease; exiting so that a fresh follower starts")
            lost = True
        return 1 if lost else 0
    if args.command == "render":
        import anyio

        from . import preview

        try:
            return anyio.run(preview.run, _render_options(args), sys.stdout, sys.stderr)
        except preview.PreviewError as exc:
            print(f"jupyternetes-operator render: {exc}", file=sys.stderr)
            return 2
    if args.command == "prepare":
        return _prepare(args)
    if args.command == "dev-cluster":
        return _dev_cluster(args)
    raise AssertionError(f"unhandled command {args.command}")


def _dev_cluster(args: argparse.Namespace) -> int:
    from .testing import devcluster

    if args.action == "build":
        devcluster.build_with_progress()
        return 0
    directory = args.dir or devcluster.default_dir()
    if args.action == "up":
        return devcluster.up(directory, args.nodes, args.apply, args.operator, args.fresh)
    if args.action == "serve":
        return devcluster.serve(directory, args.nodes, args.operator)
    if args.action == "down":
        return devcluster.down(directory)
    if args.action == "delete":
        return devcluster.delete(directory)
    return devcluster.env(directory)
