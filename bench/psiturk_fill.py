"""Fill psiTurk 3.3.1's database with the export benchmark's records (run by the psiTurk peer's
own Python, in its example project): N participants, each with T trials whose ``trialdata``
is one of our trial records, through psiTurk's own model, as the peer's ``--fill orm`` does.

    .venv/bin/python psiturk_fill.py PARTICIPANTS TRIALS [properties]   (cwd: psiturk-example)

With ``properties``, each participant's trial half-way is a run properties record, as in
our database (bench/export_records.py).
"""

import datetime
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.getcwd())

from export_records import run_records


def main() -> None:
    participants, trials = int(sys.argv[1]), int(sys.argv[2])
    properties = sys.argv[3:] == ["properties"]
    from psiturk.db import db_session, init_db  # reads ./config.txt
    from psiturk.models import Participant

    init_db()
    rng = random.Random(1)
    started = time.perf_counter()
    for i in range(participants):
        worker, assignment = f"W{i:08d}", f"A{i:08d}"
        p = Participant(assignmentid=assignment, workerid=worker, hitid="HIT1", cond=i % 2,
                        counterbalance=0, ipaddress="127.0.0.1", browser="chrome",
                        platform="linux", language="en", mode="sandbox")
        ts = 1_700_000_000_000 + i * 1000
        data = [{"uniqueid": p.uniqueid, "current_trial": j, "dateTime": ts + j,
                 "trialdata": trial}
                for j, trial in enumerate(run_records(rng, i, trials, properties))]
        events = [{"eventtype": "focus", "value": "on", "timestamp": ts + 10 * j,
                   "interval": 10} for j in range(trials // 10)]
        p.datastring = json.dumps({
            "id": p.uniqueid, "condition": p.cond, "counterbalance": 0,
            "assignmentId": assignment, "workerId": worker, "hitId": "HIT1",
            "currenttrial": trials, "bonus": 0, "data": data,
            "questiondata": {"engagement": "5", "comments": "none"}, "eventdata": events,
            "useragent": "Mozilla/5.0", "mode": "sandbox"})
        p.status = 4
        p.beginexp = p.endhit = datetime.datetime.now(datetime.UTC)
        db_session.add(p)
        if i % 200 == 199:
            db_session.commit()
    db_session.commit()
    print(f"psiTurk: filled {participants:,} participants x {trials} trials in "
          f"{time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()
