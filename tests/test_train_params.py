"""Training options declared once (engine.train_params): the CLI's options come from them, a request
is checked against them whichever front end made it, and the command a model card keeps repeats
the run exactly."""

from __future__ import annotations

import argparse
import shlex

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cli import build_parser
from engine.cli.core import train_request
from engine.errors import UserError
from engine.train_params import TRAIN_PARAMS, check_request, command_line
from engine.workbench import TrainRequest

FIELDS = ("arch", "split", "val_split", "epochs", "batch_size", "lr", "seed", "max_minutes", "limit", "resident",
          "amp", "noise_sd_mv", "adversarial", "adv_eps_mv", "adv_steps", "adv_share", "ema", "init",
          "weight_decay", "label_smoothing", "augment", "arch_args")


def _request(argv: list[str]) -> TrainRequest:
    return train_request(build_parser().parse_args(["train", *argv]))


def _reparsed(req: TrainRequest) -> TrainRequest:
    words = shlex.split(req.command)
    assert words[:3] == ["python", "main.py", "train"], words
    return _request(words[3:])


def test_every_command_renders_its_help():
    """`train --help` once crashed: a '%' in an augmentation's description reached argparse."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert len(sub.choices) >= 15
    for name, parser in sub.choices.items():
        assert parser.format_help(), name


def test_cli_options_are_the_declarations():
    parser = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    flags = {o: a for a in parser._actions for o in a.option_strings}
    for p in TRAIN_PARAMS.values():
        assert p.flag in flags, p.flag
        assert flags[p.flag].default == p.default, p.flag
        assert p.range_text() in flags[p.flag].help, p.flag


def test_command_repeats_the_run_and_names_no_machine_path():
    req = _request(["/data/my ecg/physionet2017", "--out", "/home/me/m.safetensors", "--val-split", "strat-val",
                    "--limit", "300", "--lr", "0.00012345678", "--depth", "2", "--augment", "noise,stretch",
                    "--init", "/home/me/base.safetensors", "--ema", "0.998", "--max-minutes", "42",
                    "--adversarial", "pgd", "--adv-share", "0.5", "--seed", "7"])
    again = _reparsed(req)
    for f in FIELDS:
        if f != "init":
            assert getattr(again, f) == getattr(req, f), f
    assert again.init == "base.safetensors"  # its file name: the card names no machine path
    # the command keeps the dataset as typed on the command line; checkpoints by file name only
    assert "/home/me" not in req.command and "'/data/my ecg/physionet2017'" in req.command
    assert "--val-split strat-val" in req.command and "--limit 300" in req.command  # once left out


def test_gui_requests_name_the_dataset_folder_only(tmp_path):
    class Ds:
        folder = str(tmp_path / "physionet2017")

    req = TrainRequest(dataset=Ds(), out=str(tmp_path / "m.safetensors"), arch="default-whole", ema=0.998)
    assert command_line(req).startswith("python main.py train physionet2017 --arch default-whole --out m.safetensors")
    assert str(tmp_path) not in command_line(req)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_valid_request_survives_its_command(data):
    """Every declared option at any value in its range reads back from the card's command unchanged."""
    values = {}
    for name, p in TRAIN_PARAMS.items():
        if not data.draw(st.booleans(), label=f"set {name}"):
            continue
        if p.kind is int:
            v = data.draw(st.integers(int(p.lo), int(min(p.hi, 2 ** 40))), label=name)
        else:
            v = data.draw(st.floats(p.lo, p.hi, allow_nan=False, exclude_min=p.lo_open), label=name)
        values[name] = v
    arch = data.draw(st.sampled_from(["default", "default-whole"]))
    depth = values.pop("depth", None)
    req = TrainRequest(dataset=None, out="m.safetensors", arch=arch, adversarial="sap",
                       arch_args={"depth": depth} if depth is not None else {}, **values)
    check_request(req)
    req.command = command_line(req, "data")
    again = _reparsed(req)
    for f in FIELDS:
        assert getattr(again, f) == getattr(req, f), (f, req.command)


@pytest.mark.parametrize("field, value, flag", [
    ("lr", 0.0, "--lr"), ("lr", float("nan"), "--lr"), ("batch_size", 0, "--batch-size"),
    ("ema", 1.0, "--ema"), ("label_smoothing", 0.9, "--label-smoothing"), ("max_minutes", 0.0, "--max-minutes"),
    ("seed", -1, "--seed"), ("adv_share", 0.0, "--adv-share"), ("epochs", 2.5, "--epochs"),
])
def test_requests_out_of_range_are_refused_by_the_declared_line(field, value, flag):
    req = TrainRequest(dataset=None, out="m.safetensors", **{field: value})
    with pytest.raises(UserError, match=flag):
        check_request(req)


def test_arch_arguments_must_fit_the_architecture():
    with pytest.raises(UserError, match="--depth: paper-cnn has no residual stages"):
        check_request(TrainRequest(dataset=None, out="m.safetensors", arch="paper-cnn", arch_args={"depth": 2}))
    with pytest.raises(UserError, match="--depth"):
        check_request(TrainRequest(dataset=None, out="m.safetensors", arch="default", arch_args={"depth": 9}))
    with pytest.raises(UserError, match="unknown architecture"):
        check_request(TrainRequest(dataset=None, out="m.safetensors", arch="resnet"))


def test_cli_checks_every_option_before_reading_the_dataset(capsys, tmp_path):
    from conftest import inproc_user_error

    line = inproc_user_error(capsys, "train", str(tmp_path / "no such folder"), "--out",
                             str(tmp_path / "m.safetensors"), "--arch", "paper-cnn", "--depth", "2")
    assert "--depth: paper-cnn has no residual stages" in line
