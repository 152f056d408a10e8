from __future__ import annotations

import io
import subprocess
import sys

import pytest

from jupyternetes_operator import api
from jupyternetes_operator.cli import _parser
from jupyternetes_operator.homes import request, request_name, same_request, users_from
from jupyternetes_operator.spawner.names import safe_username


@pytest.mark.parametrize("user", ["alice", "Alice.Smith@uni.example", "ä" * 30, ""])
def test_a_request_carries_the_username_the_spawner_gives_that_user(user: str) -> None:
    """The claim's name is rendered from it: any other value would prepare someone else's home."""
    made = request(user, "jhub", "jupyterlab", None)
    assert made["spec"] == {"template": {"name": "jupyterlab"}, "variables": {"username": safe_username(user)},
                            "prepare": True}
    assert made["metadata"] == {"name": request_name(user), "namespace": "jhub"}
    assert (made["apiVersion"], made["kind"]) == (api.API_VERSION, api.INSTANCE_KIND)
    assert api.DNS_LABEL.fullmatch(made["metadata"]["name"])
    assert len(made["metadata"]["name"]) <= api.MAX_NAME


def test_distinct_users_get_distinct_requests() -> None:
    users = ["alice", "Alice", "alice-", "a" * 60, "a" * 61]
    assert len({request_name(u) for u in users}) == len(users)


def test_a_template_in_another_namespace_is_named() -> None:
    assert request("bob", "jhub", "lab", "templates")["spec"]["template"] == {"name": "lab", "namespace": "templates"}


def test_a_rerun_is_recognised_and_anything_else_is_not() -> None:
    wanted = request("bob", "jhub", "lab", None)
    assert same_request(wanted, wanted)
    server = {"spec": {"template": {"name": "lab"}, "variables": {"username": "bob"}}}
    other_user = request("eve", "jhub", "lab", None)
    other_template = request("bob", "jhub", "other", None)
    assert not same_request(server, wanted)
    assert not same_request(other_user, wanted)
    assert not same_request(other_template, wanted)


def test_users_come_from_arguments_and_files_once_each() -> None:
    roster = io.StringIO("# class of 2026\ncarol\n\n  dan  \nalice\n")
    assert users_from(["alice", "bob"], [roster]) == ("alice", "bob", "carol", "dan")


def test_the_command_line() -> None:
    args = _parser().parse_args(["prepare", "-n", "jhub", "--template", "lab", "--wait", "60", "alice", "bob"])
    assert (args.command, args.namespace, args.template, args.wait, args.users) == (
        "prepare", "jhub", "lab", 60.0, ["alice", "bob"])
    with pytest.raises(SystemExit):
        _parser().parse_args(["prepare", "alice"])  # the namespace and template are required


def test_the_command_needs_no_jupyterhub() -> None:
    """It runs wherever the operator does (its image has no JupyterHub)."""
    code = "import sys, jupyternetes_operator.homes; print('jupyterhub' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip() == "False"
