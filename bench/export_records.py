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


#: trial_type of our jsPsych adapter's run properties records (record_keys.PROPERTIES_TYPE;
#: not imported, as psiTurk's virtualenv does not have the app).
PROPERTIES_TYPE = "experiment-host-properties"


def run_records(rng: random.Random, participant: int, trials: int,
                properties: bool = False) -> list[dict[str, Any]]:
    """One participant's trials; with ``properties`` the one half-way is a run properties
    record (jsPsych's ``addProperties`` as our adapter saves it), which trials.csv lays
    over every row of its run, the rows before it too."""
    records = [record(rng, seq) for seq in range(trials)]
    if properties:
        records[trials // 2] = {"trial_type": PROPERTIES_TYPE, "properties": {
            "subject": f"S{participant:06d}", "group": rng.choice(["x", "y"]),
            "session": {"day": participant % 3 + 1, "note": "=lab \"b\", room 2"}}}
    return records
