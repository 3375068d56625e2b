"""What a review study asks: the tasks, their valid answers, and the texts reviewers read.

Nothing here says which trace is altered or what a model predicted; only task B (which asks about
alteration) mentions that one trace was altered.
"""

from __future__ import annotations

TASKS = ("A", "B", "C")
ANSWERS = {"A": ("same", "different"), "B": ("1", "2"), "C": ("N", "A", "O", "~")}
RHYTHMS = {"N": "Normal sinus rhythm", "A": "Atrial fibrillation", "O": "Other rhythm",
           "~": "Too noisy to classify"}

# What reviewers read.
INSTRUCTIONS = {
    "general": (
        "You will see single-lead ECG recordings on standard ECG paper: "
        "25 mm/s, 10 mm/mV. Small squares are 0.04 s × 0.1 mV, large squares 0.2 s × 0.5 mV.\n\n"
        "Answer with the keyboard or the buttons. You may zoom and use the calipers. After each "
        "answer you may rate how confident you are (1 = guessing, 5 = certain) or press Enter to "
        "skip the rating; until then Backspace takes the answer back.\n\n"
        "Once rated (or skipped) the answer is saved and the next ECG is shown: there is no going "
        "back to an earlier ECG. If you stop, you can come back later with the same name and "
        "continue where you left off."),
    "A": ("Two ECGs are shown, one above the other. Would you give both the same rhythm "
          "diagnosis?\n\nPress S for same, D for different."),
    "B": ("Two ECGs are shown, one above the other. One of them has been digitally altered; "
          "the other is unchanged. Which one was altered? If you cannot tell, give your best "
          "guess.\n\nPress 1 for the upper ECG (ECG 1), 2 for the lower ECG (ECG 2)."),
    "C": ("One ECG is shown. Which rhythm does it show?\n\nPress N for normal sinus rhythm, "
          "A for atrial fibrillation, O for another rhythm, ~ (or X) if it is too noisy to "
          "classify."),
}
PROMPTS = {"A": "Same rhythm diagnosis for both ECGs?",
           "B": "Which ECG was altered?",
           "C": "Which rhythm does this ECG show?"}



def normalise_answer(task: str, value) -> str | None:
    """The canonical answer for `task` (case as stored), or None when `value` is not a valid one."""
    if task not in ANSWERS or not isinstance(value, str):
        return None
    if task == "C" and value.upper() in ("N", "A", "O"):
        value = value.upper()
    if task == "A":
        value = value.lower()
    return value if value in ANSWERS[task] else None


def parse_tasks(spec: str | list[str]) -> list[str]:
    """Tasks from "A,C,B" (or a list), checked: known, each once, at least one."""
    from ..errors import UserError

    parts = spec if isinstance(spec, list) else str(spec).replace(" ", "").split(",")
    tasks = [str(t).strip().upper() for t in parts if str(t).strip()]
    if not tasks:
        raise UserError("no tasks given (use e.g. --tasks A,B,C)")
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise UserError(f"unknown task {bad[0]!r} (choose from A, B, C)")
    if len(set(tasks)) != len(tasks):
        raise UserError("each task may be given only once")
    return tasks
