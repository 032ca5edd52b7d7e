"""The generated tables of docs/objectives.md (every loss option; generator gradients) match what
``scripts/loss_tables.py`` would write now: a loss YAML added without regenerating the page fails."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ganbench.losses.catalog import config_losses, description, options_table, render_docs, replace_block

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "objectives.md"


def test_docs_tables_are_up_to_date():
    text = DOC.read_text(encoding="utf-8")
    assert render_docs(text) == text, "docs/objectives.md is out of date: run python scripts/loss_tables.py"


def test_options_table_lists_every_option_once_in_order():
    table = options_table()
    names = re.findall(r"^\| `([^`]+)` \|", table, flags=re.M)
    assert names == ["loss=", *config_losses()], names
    assert all(line.count(" | ") == 5 for line in table.splitlines()[2:])


def test_replace_block_only_touches_the_block():
    text = "head\n<!-- t:start -->\nold\n<!-- t:end -->\ntail\n"
    assert replace_block(text, "t", "new\n") == "head\n<!-- t:start -->\nnew\n<!-- t:end -->\ntail\n"
    with pytest.raises(ValueError, match="lacks the markers <!-- u:start -->"):
        replace_block(text, "u", "x\n")


def test_description_is_the_leading_comment(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("# first line\n#   second | line\n_target_: a.B\n# not this\n", encoding="utf-8")
    assert description(path) == "first line second | line"


def test_a_new_loss_yaml_makes_the_page_stale(tmp_path):
    # a copy of conf/ with one more loss option: the page as committed no longer matches
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf" / "loss", conf / "loss")
    (conf / "loss" / "hinge_copy.yaml").write_text("# A copy of hinge.\n_target_: ganbench.losses.HingeLoss\n")
    text = DOC.read_text(encoding="utf-8")
    updated = render_docs(text, conf)
    assert updated != text
    row = "| `hinge_copy` | `ganbench.losses.HingeLoss` | none | yes | 2 − 2·`total_variation` | A copy of hinge. |"
    assert row in updated


def test_the_script_check_passes_on_the_committed_page():
    script = ROOT / "scripts" / "loss_tables.py"
    out = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
