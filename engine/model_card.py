"""Model cards rendered from a checkpoint's own metadata (data, split, command, metrics…)."""

from __future__ import annotations

from .models.classifier import Classifier


def _confusion_md(conf: list[list[int]], classes: list[str]) -> str:
    head = "| true \\ predicted | " + " | ".join(f"`{c}`" for c in classes) + " |\n|---|" + "---|" * len(classes) + "\n"
    return head + "".join(f"| `{c}` | " + " | ".join(str(v) for v in row) + " |\n" for c, row in zip(classes, conf))


def model_card(clf: Classifier) -> str:
    """Markdown model card for `clf`, from its metadata only."""
    m = clf.meta
    tr = m.get("training", {}) or {}
    met = (m.get("metrics", {}) or {}).get("validation")
    n_params = sum(p.numel() for p in clf.module.parameters())
    lines = [f"# Model card: {clf.name}", "",
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
                           ("optimizer", "Optimiser"), ("lr", "Learning rate"), ("batch_size", "Batch size"),
                           ("seed", "Seed"), ("epochs_planned", "Epochs planned"), ("epochs_run", "Epochs run"),
                           ("best_epoch", "Kept epoch (best validation mean F1 N/A/O)"),
                           ("train_time_s", "Training time (s)"), ("device", "Device"), ("torch", "PyTorch"),
                           ("app_version", "App version"), ("command", "Command"), ("source", "Source")]:
            if key in tr:
                val = f"`{tr[key]}`" if key == "command" else tr[key]
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
