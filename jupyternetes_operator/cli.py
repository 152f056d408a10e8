"""Command line: argv -> the chosen command. Heavy imports happen inside each command."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


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

    dev = commands.add_parser("dev-cluster", help="a local control plane (etcd, apiserver, kwok) for development")
    dev_commands = dev.add_subparsers(dest="action", required=True)
    dev_commands.add_parser("build", help="build (or find cached) the control-plane binaries")
    for name, text in (("up", "build and start the cluster in the background"),
                       ("down", "stop the background cluster"),
                       ("env", "print shell exports for the running cluster"),
                       ("serve", "run the cluster in the foreground (what 'up' starts)")):
        sub = dev_commands.add_parser(name, help=text)
        sub.add_argument("--dir", type=Path, default=None, help="state directory (default: in the cache)")
        if name in ("up", "serve"):
            sub.add_argument("--nodes", type=int, default=2, help="fake kwok Nodes (default 2)")
        if name == "up":
            sub.add_argument("--apply", type=Path, action="append", default=[], metavar="PATH",
                             help="manifest file or folder to apply once ready (repeatable)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "dev-cluster":
        from .testing import devcluster

        if args.action == "build":
            devcluster.build_with_progress()
            return 0
        directory = args.dir or devcluster.default_dir()
        if args.action == "up":
            return devcluster.up(directory, args.nodes, args.apply)
        if args.action == "serve":
            return devcluster.serve(directory, args.nodes)
        if args.action == "down":
            return devcluster.down(directory)
        return devcluster.env(directory)
    raise AssertionError(f"unhandled command {args.command}")
