"""Model cards rendered from a checkpoint's own metadata (data, split, command, metrics…).

A card shows no machine paths: checkpoints (older ones especially) record the training folder,
label file and command with absolute or relative paths of the machine they were trained on; the
card shows only the last component of each (the dataset's folder name, the label file's name),
and the home directory never appears.
"""

from __future__ import annotations

import os
import re
import shlex

from .models.classifier import Classifier

_PATH_KEYS = ("dataset", "label_file")  # values that are a path as a whole
_PATHLIKE = re.compile(r"(?:[A-Za-z]:)?[^\s'\"`=,;()]*[/\\][^\s'\"`,;()]*")


def _last(path: str) -> str:
    """The last non-empty component of a path (either separator); '' stays ''."""
    parts = [p for p in re.split(r"[/\\]+", str(path)) if p]
    return parts[-1] if parts else ""


def _home_out(text: str) -> str:
    home = os.path.expanduser("~")
    return text.replace(home, "~") if home and home not in ("/", "~") else text


def strip_paths(text: str) -> str:
    """`text` with every path-like token (anything with a / or \\) reduced to its last component,
    e.g. 'main.py train /home/me/data/physionet2017 --out m.safetensors' → 'main.py train
    physionet2017 --out m.safetensors'; an `--opt=/a/b` value too."""
    text = _home_out(str(text))
    try:
        toks = shlex.split(text, posix=False)  # keeps backslashes (Windows paths) and quotes
    except ValueError:  # unbalanced quotes: path-like runs of the raw text
        return _PATHLIKE.sub(lambda m: _last(m.group(0)), text)
    out = []
    for t in toks:
        key, val = (t.split("=", 1)[0] + "=", t.split("=", 1)[1]) if t.startswith("-") and "=" in t else ("", t)
        q = val[0] if len(val) > 1 and val[0] == val[-1] and val[0] in "'\"" else ""
        bare = val[1:-1] if q else val
        if re.search(r"[/\\]", bare):
            bare = _last(bare)
            val = shlex.quote(bare) if q or not bare or re.search(r"\s", bare) else bare
        out.append(key + val)
    return " ".join(out)


def _shown(key: str, val) -> str:
    if not isinstance(val, str):
        return val
    if key in _PATH_KEYS:
        return _last(_home_out(val)) or val
    return strip_paths(val) if re.search(r"[/\\]", val) or "~" in val else val


def _confusion_md(conf: list[list[int]], classes: list[str]) -> str:
    head = "| true \\ predicted | " + " | ".join(f"`{c}`" for c in classes) + " |\n|---|" + "---|" * len(classes) + "\n"
    return head + "".join(f"| `{c}` | " + " | ".join(str(v) for v in row) + " |\n" for c, row in zip(classes, conf))


def model_card(clf: Classifier) -> str:
    """Markdown model card for `clf`, from its metadata only."""
    m = clf.meta
    tr = m.get("training", {}) or {}
    met = (m.get("metrics", {}) or {}).get("validation")
    n_params = sum(p.numel() for p in clf.module.parameters())
    lines = [f"# Model card: {_shown('name', clf.name)}", "",
             f"- Architecture: `{m['arch']}` {m.get('arch_args') or ''} ({n_params:,} parameters)",
             "- Classes: " + ", ".join(f"`{c}`" for c in clf.classes)
             + " (`N` normal, `A` atrial fibrillation, `O` other rhythm, `~` too noisy)",
             f"- Input: single lead, {m['fs']:g} Hz, {m.get('units', 'mV')}, {m['length']} samples "
             f"({m['length'] / m['fs']:.0f} s), {m.get('length_convention', '')}"]
    if tr:
        lines += ["", "## Training"]
        for key, label in [("dataset", "Data"), ("label_file", "Labels"), ("split", "Training pool"),
                           ("validation", "Validation split"), ("train_records", "Training records"),
                           ("val_records", "Validation records"), ("balancing", "Class balancing"),
                           ("optimizer", "Optimiser"), ("lr", "Learning rate"),
                           ("weight_decay", "Weight decay (AdamW)"),
                           ("batch_size", "Batch size"), ("label_smoothing", "Label smoothing"),
                           ("augment", "Augmentation (engine.augment; besides a random gain of ±15 %)"),
                           ("noise_sd_mv", "Gaussian noise augmentation (sd, mV)"),
                           ("adversarial", "Adversarial training (method, ε mV, steps; share of each batch if not all)"),
                           ("init", "Started from (fine-tuning)"),
                           ("ema", "Kept weights: moving average, decay"),
                           ("seed", "Seed"), ("epochs_planned", "Epochs planned"), ("epochs_run", "Epochs run"),
                           ("best_epoch", "Kept epoch (best validation mean F1 N/A/O)"),
                           ("train_time_s", "Training time (s)"), ("device", "Device"), ("torch", "PyTorch"),
                           ("app_version", "App version"), ("command", "Command"), ("source", "Source")]:
            if key in tr:
                shown = _shown(key, tr[key])
                val = f"`{shown}`" if key == "command" else shown
                lines.append(f"- {label}: {val}")
    if met:
        f1 = met["f1"]
        lines += ["", "## Validation metrics",
                  f"- Records: {met['n']}", f"- Accuracy: {met['accuracy']:.3f}",
                  "- F1: " + ", ".join(f"`{c}` {f1[c]:.3f}" for c in clf.classes if c in f1),
                  f"- Mean F1 over N, A, O (the paper's figure): {met['f1_mean_nao']:.3f}",
                  f"- Mean F1 over all four classes: {met['f1_mean_all']:.3f}", "", "Confusion matrix:", "",
                  _confusion_md(met["confusion"], clf.classes)]
    return "\n".join(lines) + "\n"
