"""Blinded expert-review studies in one portable SQLite file (facade of the modules below).

A study holds its ECG signals (float32 mV blobs + sampling rate), the items reviewers see, a
separate answer key, reviewer sessions and answers. Tasks: A, a pair (original, adversarial) —
"same diagnosis?"; B, a pair — "which of the two was altered?"; C, one ECG — rhythm label
N / A / O / ~ over a random mix of originals and adversarial examples.

* engine.review.tasks — tasks, valid answers, the texts reviewers read;
* engine.review.plan — pairs and the secret, balanced randomisation (and why a reviewer copy
  cannot be un-blinded: read its docstring);
* engine.review.store — SQLite schema, trace processing, item digests and fingerprint;
* engine.review.access — the reviewer's view (items, sessions, answers) and the researcher's;
* engine.review.create — new studies and reviewer copies (written atomically);
* engine.review.merge — merging reviewers' copies, refusing tampered files.
"""

from __future__ import annotations

from .access import (ReviewSession, ReviewStudy, Study, StudyLocked, answer_correct, display_layout, now_iso,
                     open_for_review, open_study, original_class, reviewer_key)
from .create import create_study, write_reviewer_copy
from .merge import merge_studies
from .plan import (KeyedRandom, Pair, PlannedItem, balanced_positions, balanced_sample, check_seed, new_seed,
                   plan_items)
from .store import FORMAT, SCHEMA_VERSION, detect_grid, prepare_pair
from .tasks import ANSWERS, INSTRUCTIONS, PROMPTS, RHYTHMS, TASKS, normalise_answer, parse_tasks

__all__ = ["ANSWERS", "FORMAT", "INSTRUCTIONS", "KeyedRandom", "PROMPTS", "Pair", "PlannedItem", "RHYTHMS",
           "ReviewSession", "ReviewStudy", "SCHEMA_VERSION", "Study", "StudyLocked", "TASKS", "answer_correct",
           "balanced_positions", "balanced_sample", "check_seed", "create_study", "detect_grid",
           "display_layout", "merge_studies", "new_seed", "normalise_answer", "now_iso", "open_for_review",
           "open_study", "original_class", "parse_tasks", "plan_items", "prepare_pair", "reviewer_key",
           "write_reviewer_copy"]
