from __future__ import annotations

import pytest

from jupyternetes_operator.api import Declaration
from jupyternetes_operator.spawner.options import (
    OptionsError,
    Profile,
    choose,
    declarations,
    profiles,
    resolve,
)

TEMPLATE = {"spec": {"variables": [
    {"name": "username", "required": True, "pattern": "[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?"},
    {"name": "image", "default": "img:1", "enum": ["img:1", "img:2"], "userSettable": True,
     "description": "The image"},
    {"name": "storage", "default": "10Gi", "enum": ["5Gi", "10Gi"]},
    {"name": "tag", "pattern": "v[0-9]+", "userSettable": True},
]}}
DECLARED = declarations(TEMPLATE)
FIXED = {"username": "alice"}


def test_declarations_are_read_from_the_template() -> None:
    assert DECLARED[1] == Declaration("image", "The image", "img:1", False, None, ("img:1", "img:2"), True)
    assert DECLARED[0].required
    assert not DECLARED[0].user_settable


def test_user_may_set_settable_variables() -> None:
    assert resolve(DECLARED, {"image": "img:2", "tag": "v3"}, FIXED, "ns/t") == {
        "image": "img:2", "tag": "v3", "username": "alice"}


@pytest.mark.parametrize(("user", "expect"), [
    ({"storage": "5Gi"}, "'storage' cannot be chosen by users"),
    ({"evil": "1"}, "'evil' is not a variable of template ns/t (you may set: ['image', 'tag'])"),
    ({"image": "docker.io/evil"}, "'image' must be one of ['img:1', 'img:2']"),
    ({"tag": "latest"}, "'tag' 'latest' does not match the pattern 'v[0-9]+'"),
    ({"tag": "v1x"}, "does not match"),  # patterns are anchored at both ends
    ({"username": "bob"}, "'username' cannot be chosen by users"),
])
def test_bad_user_values_are_refused_clearly(user: dict[str, str], expect: str) -> None:
    with pytest.raises(OptionsError, match="invalid server options") as info:
        resolve(DECLARED, user, FIXED, "ns/t")
    assert expect in str(info.value)


def test_a_profile_fixed_value_cannot_be_overridden_by_the_user() -> None:
    with pytest.raises(OptionsError, match="'image' is fixed by the server profile"):
        resolve(DECLARED, {"image": "img:2"}, {**FIXED, "image": "img:1"}, "t")


def test_configuration_errors_name_the_configuration() -> None:
    with pytest.raises(OptionsError, match=r"'nope' .set by the hub configuration. is not declared"):
        resolve(DECLARED, {}, {**FIXED, "nope": "x"}, "t")
    with pytest.raises(OptionsError, match=r"'storage' .set by the hub configuration. must be one of"):
        resolve(DECLARED, {}, {**FIXED, "storage": "1Ti"}, "t")
    with pytest.raises(OptionsError, match="requires 'username'"):
        resolve(DECLARED, {}, {}, "t")


def test_without_profile_list_one_default_profile() -> None:
    (only,) = profiles([], "jupyterlab", None)
    assert only == Profile("default", "Default", "jupyterlab", None, default=True)
    assert choose({}, (only,)).profile is only
    assert choose(None, (only,)).variables == {}


def test_profiles_map_to_templates_and_fixed_variables() -> None:
    available = profiles([
        {"slug": "small", "display_name": "Small", "variables": {"storage": "5Gi"}},
        {"slug": "gpu", "template": "gpu-lab", "template_namespace": "shared", "default": True},
    ], "jupyterlab", None)
    assert choose({}, available).profile.slug == "gpu"
    small = choose({"profile": "small", "variables": {"image": "img:2"}}, available)
    assert small.profile.template == "jupyterlab"
    assert small.profile.variables == {"storage": "5Gi"}
    assert small.variables == {"image": "img:2"}
    assert available[1].template_namespace == "shared"


@pytest.mark.parametrize(("user_options", "expect"), [
    ({"profile": "nope"}, "unknown profile 'nope'; choose one of \\['default'\\]"),
    ({"image": "x"}, "unknown server options \\['image'\\]"),
    ({"variables": {"image": 3}}, "must map variable names to string values"),
    ({"variables": ["image"]}, "must map variable names to string values"),
])
def test_malformed_user_options(user_options: dict[str, object], expect: str) -> None:
    with pytest.raises(OptionsError, match=expect):
        choose(user_options, profiles([], "t", None))


def test_profile_list_config_errors() -> None:
    with pytest.raises(OptionsError, match="unknown keys \\['kubespawner_override'\\]"):
        profiles([{"slug": "a", "kubespawner_override": {}}], "t", None)
    with pytest.raises(OptionsError, match="duplicate slugs"):
        profiles([{"slug": "a"}, {"slug": "a"}], "t", None)
    with pytest.raises(OptionsError, match="variables must map names to strings"):
        profiles([{"slug": "a", "variables": {"x": 1}}], "t", None)
