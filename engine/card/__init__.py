"""Robustness card: one report per model (issue 15 §3).

`build.build_card` runs (or resumes) the attack-eval cells of every chosen attack at every ε and
the ensemble at the robust-accuracy ε values (engine.robustness.run_robustness over
engine.attack_eval.run_eval: resumable JSONL files in a results folder, sharded under torchrun),
the universal perturbation (engine.universal) and reads a band-eval file, and returns the card
as one plain-JSON document. `render` turns it into text, HTML (inline SVG / PNG data URIs) and
PDF, and lists its key figures (for a side-by-side comparison of two models).
"""

from .build import KIND, CardSettings, build_card  # noqa: F401
