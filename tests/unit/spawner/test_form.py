from __future__ import annotations

from jupyternetes_operator.spawner.form import options_from_form, render, settable
from jupyternetes_operator.spawner.options import declarations, profiles

from .test_options import TEMPLATE

DECLARED = declarations(TEMPLATE)


def test_single_profile_without_choices_shows_no_form() -> None:
    (only,) = profiles([], "t", None)
    assert render([(only, [])]) == ""


def test_enum_becomes_a_select_and_pattern_a_validated_input() -> None:
    (only,) = profiles([], "t", None)
    html = render([(only, settable(only, DECLARED))])
    assert '<input type="hidden" name="profile" value="default">' in html
    assert '<select class="form-control" id="default/image" name="default/image">' in html
    assert '<option value="img:1" selected>img:1</option><option value="img:2">img:2</option>' in html
    assert '<label for="default/image">The image</label>' in html
    assert 'name="default/tag" value="" pattern="v[0-9]+"' in html
    assert "storage" not in html
    assert "username" not in html


def test_profiles_are_radio_choices_and_fixed_variables_are_hidden() -> None:
    small, big = profiles([{"slug": "small", "display_name": "Small <1 CPU>", "description": "for tests",
                            "variables": {"image": "img:1"}},
                           {"slug": "big", "default": True}], "t", None)
    html = render([(small, settable(small, DECLARED)), (big, settable(big, DECLARED, {"tag": "v1"}))])
    assert '<input type="radio" name="profile" value="big" checked>' in html
    assert '<input type="radio" name="profile" value="small">' in html
    assert "Small &lt;1 CPU&gt;" in html
    assert "<p>for tests</p>" in html
    assert "small/image" not in html
    assert "small/tag" in html
    assert "big/image" in html
    assert "big/tag" not in html


def test_values_are_escaped() -> None:
    (only,) = profiles([], "t", None)
    evil = declarations({"spec": {"variables": [
        {"name": "x", "userSettable": True, "description": "<script>", "default": '"><b>'}]}})
    html = render([(only, settable(only, evil))])
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "&quot;&gt;&lt;b&gt;" in html


def test_form_data_becomes_user_options_of_the_chosen_profile() -> None:
    form = {"profile": ["small"], "small/image": ["img:2"], "small/tag": [""], "big/image": ["img:1"]}
    assert options_from_form(form) == {"profile": "small", "variables": {"image": "img:2"}}
    assert options_from_form({}) == {"variables": {}}
