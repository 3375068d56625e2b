"""Training options declared once: flag, GUI label, unit, default, allowed range, help.

The `train` command's options and the GUI's Train tab are generated from these declarations
(engine.attacks.params.Param), and `check_request` validates a TrainRequest against them before any
data is read, so both front ends accept the same values and refuse the same ones with the same
line. `command_line` writes the `python main.py train ...` that repeats a run (kept in the model
card), whichever front end started it. Imports neither torch nor Qt.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from .attacks.params import Param
from .errors import UserError
from .models import ARCHITECTURES  # declarations only: torch is imported when a network is built

MAX_SEED = 2 ** 32 - 1  # numpy's seed range; torch accepts it too
DEFAULT_VAL_SPLIT = "strat"

# request field -> declaration; the flag's name (without --, dashes as underscores) is the CLI's dest
TRAIN_PARAMS: dict[str, Param] = {p.attr: p for p in (
    Param("epochs", "--epochs", "Epochs", "", None, 1, 100_000, kind=int,
          help="training epochs (default: the architecture's)"),
    Param("max_minutes", "--max-minutes", "Time budget", "min", None, 0.0, 1e6, lo_open=True, step=1.0,
          help="stop after this many minutes; the learning-rate schedule anneals by time, so the run "
               "ends trained, not cut short"),
    Param("batch_size", "--batch-size", "Batch size", "", 64, 1, 4096, kind=int, help="training batch size"),
    Param("lr", "--lr", "Learning rate", "", 1e-3, 0.0, 10.0, lo_open=True, step=1e-4, help="learning rate"),
    Param("seed", "--seed", "Seed", "", 0, 0, MAX_SEED, kind=int,
          help="random seed (weights, shuffling and the stratified validation split)"),
    Param("ema", "--ema", "EMA decay", "", 0.0, 0.0, 0.99999, step=0.001,
          help="keep a moving average of the weights with this decay (e.g. 0.999) and validate and save it "
               "instead of the raw weights; 0: off"),
    Param("weight_decay", "--weight-decay", "Weight decay", "", 1e-4, 0.0, 1.0, step=0.01,
          help="AdamW's decoupled weight decay"),
    Param("label_smoothing", "--label-smoothing", "Label smoothing", "", 0.0, 0.0, 0.5, step=0.05,
          help="cross-entropy label smoothing; 0: off"),
    Param("noise_sd_mv", "--noise-sd", "Noise sd", "mV", 0.0, 0.0, 10.0, step=0.01,
          help="Gaussian noise added to every training example, so the model works under randomised "
               "smoothing (certify --sigma)"),
    Param("adv_eps_mv", "--eps", "Adversarial ε", "mV", 0.01, 0.0, 10.0, lo_open=True, step=0.001,
          help="adversarial training: L∞ budget"),
    Param("adv_steps", "--steps", "Adversarial steps", "", 1, 1, 1000, kind=int,
          help="adversarial training: ascent steps per batch"),
    Param("adv_share", "--adv-share", "Adversarial share", "", 1.0, 0.0, 1.0, lo_open=True, step=0.1,
          help="adversarial training: share of each batch replaced by adversarial examples, the rest kept "
               "clean (0.5: half and half)"),
    Param("depth", "--depth", "Depth", "", None, 1, 8, kind=int,
          help="residual blocks per stage (one stride-2 block, then stride-1 blocks of the same width; "
               "default 1), kept in the checkpoint"),
)}


def dest(p: Param) -> str:
    """The argparse attribute of a declared option (--noise-sd -> noise_sd)."""
    return p.flag.lstrip("-").replace("-", "_")


def check_request(req: Any) -> None:
    """UserError naming the option and its range for the first value of `req` (a TrainRequest) that
    its declaration refuses; None (not given) is allowed where the declared default is None."""
    for name, p in TRAIN_PARAMS.items():
        value = req.arch_args.get("depth") if name == "depth" else getattr(req, name)
        if value is None and p.default is None:
            continue
        p.check(value)
    if req.arch not in ARCHITECTURES:
        raise UserError(f"unknown architecture {req.arch!r}; one of {', '.join(ARCHITECTURES)}")
    for key, flag, what in (("channels", "--channels", "channel widths to set"),
                            ("depth", "--depth", "residual stages to deepen")):
        if key in req.arch_args and key not in ARCHITECTURES[req.arch].arg_limits:
            only = ", ".join(a.name for a in ARCHITECTURES.values() if key in a.arg_limits)
            raise UserError(f"{flag}: {req.arch} has no {what} (only {only})")


def _num(v: float) -> str:
    """A number as short as it reads back exactly (0.998, 1e-05, 0.00012345678)."""
    short = f"{v:g}"
    return short if float(short) == v else repr(float(v))


def command_line(req: Any, dataset_arg: str | None = None) -> str:
    """`python main.py train ...` that repeats the run of `req` (a TrainRequest): every option that
    differs from its default, the dataset as `dataset_arg` (default: the folder's name), and only the
    file names of the checkpoints written and read (a model card shows no machine paths)."""
    ds = dataset_arg if dataset_arg is not None else os.path.basename(os.path.abspath(req.dataset.folder))
    out = [ds, "--arch", req.arch, "--out", os.path.basename(req.out), "--seed", str(req.seed)]
    if req.epochs:
        out += ["--epochs", str(req.epochs)]
    if req.max_minutes:
        out += ["--max-minutes", _num(req.max_minutes)]
    if req.lr != TRAIN_PARAMS["lr"].default:
        out += ["--lr", _num(req.lr)]
    if req.batch_size != TRAIN_PARAMS["batch_size"].default:
        out += ["--batch-size", str(req.batch_size)]
    if req.split != "all":
        out += ["--split", req.split]
    if req.val_split != DEFAULT_VAL_SPLIT:
        out += ["--val-split", req.val_split]
    if req.limit:
        out += ["--limit", str(req.limit)]
    if req.resident:
        out += ["--gpu-resident"]
    if req.amp != "auto":
        out += ["--amp", req.amp]
    if req.noise_sd_mv:
        out += ["--noise-sd", _num(req.noise_sd_mv)]
    if req.adversarial:
        out += ["--adversarial", req.adversarial, "--eps", _num(req.adv_eps_mv), "--steps", str(req.adv_steps)]
        if req.adv_share < 1:
            out += ["--adv-share", _num(req.adv_share)]
    if req.ema:
        out += ["--ema", _num(req.ema)]
    if req.init:
        out += ["--init", os.path.basename(req.init)]
    if req.arch_args.get("channels"):
        out += ["--channels", ",".join(map(str, req.arch_args["channels"]))]
    if req.arch_args.get("depth") is not None:
        out += ["--depth", str(req.arch_args["depth"])]
    if req.weight_decay != TRAIN_PARAMS["weight_decay"].default:
        out += ["--weight-decay", _num(req.weight_decay)]
    if req.label_smoothing:
        out += ["--label-smoothing", _num(req.label_smoothing)]
    if req.augment:
        out += ["--augment", ",".join(req.augment)]
    return "python main.py train " + " ".join(shlex.quote(a) for a in out)  # a folder with a space stays one word


# named recipes (the GUI's presets): request fields over the declared defaults; each says what it is
RECIPES: dict[str, tuple[str, dict]] = {
    "defaults": ("every option at its default", {}),
    "regularised-deep": (
        "the README's best default-whole run (strat-val F1 0.831-0.838 in 42 min on 2 cores): two residual "
        "blocks per stage, EMA 0.998, weight decay 0.05, label smoothing 0.1, stretch and noise augmentation",
        {"arch": "default-whole", "arch_args": {"depth": 2}, "ema": 0.998, "weight_decay": 0.05, "label_smoothing": 0.1,
         "augment": ("stretch", "noise"), "max_minutes": 42.0}),
}
