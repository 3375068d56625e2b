"""Model cards show no machine paths: old checkpoints record absolute (and relative) paths of the
training machine; the card shows only the dataset's folder name and the label file's name."""

from __future__ import annotations

import os
import re

from hypothesis import given, settings, strategies as st

from attack_support import load_model
from engine.model_card import model_card, strip_paths

HOME = os.path.expanduser("~")


def _card_with(training: dict) -> str:
    clf = load_model()
    clf.meta = {**clf.meta, "training": training}
    return model_card(clf)


def _assert_no_machine_path(card: str, secrets: list[str]) -> None:
    for s in secrets:
        assert s not in card, (s, card)
    if HOME not in ("/", ""):
        assert HOME not in card
    # no "/segment/" or "~/" path prefixes, no drive letters with backslashes
    assert not re.search(r"(?<![\w])(?:/|~/|\.\./|\./)[\w.-]+", card), card
    assert not re.search(r"[A-Za-z]:\\", card), card


def test_absolute_paths_of_old_checkpoints_are_stripped():
    card = _card_with({
        "dataset": "/home/alice-secret/projects/ecg-data/physionet2017",
        "label_file": "/home/alice-secret/projects/ecg-data/physionet2017/REFERENCE-v3.csv",
        "command": "python /opt/secret-checkout/main.py train /home/alice-secret/projects/ecg-data/physionet2017 "
                   f"--labels=../other-secret/REFERENCE.csv --out {HOME}/models-secret/default.safetensors "
                   "--seed 0",
        "source": f"imported from {HOME}/Downloads-secret/model.pt",
        "split": "all", "seed": 0})
    _assert_no_machine_path(card, ["alice-secret", "projects", "ecg-data", "secret-checkout", "other-secret",
                                   "models-secret", "Downloads-secret"])
    assert "- Data: physionet2017" in card
    assert "- Labels: REFERENCE-v3.csv" in card
    assert ("`python main.py train physionet2017 --labels=REFERENCE.csv --out default.safetensors --seed 0`"
            in card)
    assert "- Source: imported from model.pt" in card


def test_windows_paths_relative_paths_and_a_trailing_slash():
    card = _card_with({"dataset": "C:\\Users\\bob-secret\\data\\physionet2017\\",
                       "label_file": "../shared-secret/data/physionet2017/REFERENCE.csv",
                       "command": 'main.py train "D:\\My Data-secret\\set one" --out .\\m.safetensors'})
    _assert_no_machine_path(card, ["bob-secret", "shared-secret", "Data-secret"])
    assert "- Data: physionet2017" in card and "- Labels: REFERENCE.csv" in card
    assert "`main.py train 'set one' --out m.safetensors`" in card


def test_the_shipped_card_has_no_path():
    card = model_card(load_model())
    _assert_no_machine_path(card, ["/work", "shared/data"])


_seg = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters="-_."), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(st.lists(_seg, min_size=2, max_size=5), st.sampled_from(["/", "\\", "~/", "../", "./", ""]),
       st.sampled_from(["", "--data=", "--out "]))
def test_strip_paths_keeps_only_the_last_component(segs, lead, opt):
    sep = "\\" if lead == "\\" else "/"
    path = lead + sep.join(segs)
    out = strip_paths(f"main.py train {opt}{path} --seed 1")
    assert "/" not in out.replace("main.py", "") and "\\" not in out
    assert segs[-1] in out
    for s in segs[:-1]:
        if len(s) > 3 and s not in segs[-1] and s not in "main.py train --seed 1 --data= --out":
            assert s not in out, (path, out)
