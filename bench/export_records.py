"""The export benchmark's trial records, in a module with no dependencies: the psiTurk peer's
fill (bench/psiturk_fill.py, run by psiTurk's own virtualenv) stores the same records."""

from __future__ import annotations

import random
from typing import Any


def record(rng: random.Random, seq: int) -> dict[str, Any]:
    """A jsPsych-like trial: nested objects, a list, and keys only some records have."""
    data = {"trial_type": "html-keyboard-response", "trial_index": seq,
            "time_elapsed": 1500 * seq + rng.randint(0, 999), "rt": rng.randint(200, 2000),
            "stimulus": f"<p style=\"color: red\">word {rng.randint(1, 500)}</p>",
            "response": rng.choice(["f", "j", None]), "correct": rng.random() < 0.8,
            "block": {"n": seq // 20, "name": "main", "meta": {"list": seq % 3}},
            "choices": ["f", "j"]}
    if seq % 10 == 0:
        data["comment"] = rng.choice(["=SUM(A1)", "fine, \"ok\"\nnext line", "ünïcødé 😀"])
    if seq % 50 == 0:
        data["survey"] = {"age": rng.randint(18, 80), "answers": [1, 2, 3]}
    return data
