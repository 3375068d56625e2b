"""Blinded expert review of adversarial ECGs: study files, statistics and reports (no Qt here)."""

from .study import (ANSWERS, INSTRUCTIONS, PROMPTS, TASKS, Pair, ReviewSession, ReviewStudy, Study,
                    StudyLocked, create_study, merge_studies, open_for_review, open_study,
                    write_reviewer_copy)

__all__ = ["ANSWERS", "INSTRUCTIONS", "PROMPTS", "TASKS", "Pair", "ReviewSession", "ReviewStudy", "Study",
           "StudyLocked", "create_study", "merge_studies", "open_for_review", "open_study",
           "write_reviewer_copy"]
