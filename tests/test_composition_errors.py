"""Hydra's composition errors as one line: the override, what is wrong, the closest setting or option."""

from __future__ import annotations

import pytest
from hydra.errors import ConfigCompositionException, OverrideParseException

from ganbench.composition_errors import composition_problem
from ganbench.config import compose


def problem(*overrides: str) -> str | None:
    with pytest.raises((ConfigCompositionException, OverrideParseException)) as err:
        compose(list(overrides))
    return composition_problem(err.value, overrides)


def test_a_misspelt_setting_names_the_closest_one_and_its_siblings():
    assert problem("ema.decy=0.9") == "ema.decy is not a setting; did you mean ema.decay=…? ema has: decay, start"


def test_a_setting_of_another_section_is_found_by_its_name():
    text = problem("eval.num_samples=100")
    assert text.startswith("eval.num_samples is not a setting; did you mean evaluator.num_samples=…?")


def test_hydra_s_own_settings_are_suggested_only_for_hydra_keys():
    text = problem("hydra.run.dirr=x")
    assert text == "hydra.run.dirr is not a setting; did you mean hydra.run.dir=…? hydra.run has: dir"
    assert "hydra" not in problem("iteratons=5").split("has: ")[1].split(", ")


def test_a_node_without_settings_says_so_and_suggests_no_ancestor():
    # nonsaturating takes no arguments: "loss" (an ancestor of the key) is no suggestion
    assert problem("loss.foo=1") == "loss.foo is not a setting; loss has no settings"


def test_a_missing_option_lists_the_options_and_the_closest():
    options = "options: domain, images, images_is, toy"
    hint = "did you mean evaluator=toy?"
    assert problem("evaluator=toyy") == f"evaluator=toyy: conf/evaluator/ has no toyy.yaml; {hint} {options}"
    assert problem("evaluator=zzz") == f"evaluator=zzz: conf/evaluator/ has no zzz.yaml; {options}"


def test_every_message_is_one_line():
    for overrides in (["iterations=abc"], ["eval.every=[1"], ["~eval.foo"], ["seed=1", "seed=[x"]):
        text = problem(*overrides)
        assert text and "\n" not in text, overrides


def test_other_errors_are_not_composition_problems():
    assert composition_problem(ValueError("x")) is None


def test_an_appended_group_keeps_its_plus_in_the_suggestion():
    text = problem("+callbacks=early_stoping")
    assert text.startswith("+callbacks=early_stoping: conf/callbacks/ has no early_stoping.yaml; ")
    assert "did you mean +callbacks=early_stopping? " in text


def test_of_several_settings_with_the_name_the_closest_key_is_suggested():
    text = problem("+callbacks=early_stopping", "callbacks.early_stoping.monitor=fid")
    assert text.startswith("callbacks.early_stoping is not a setting; did you mean callbacks.early_stopping=…?")
