"""Copy a Molecule run's output to its log and time each of its phases.

usage: molecule test -s NAME 2>&1 | python3 tests/harness/phase_clock.py NAME LOG PHASES
Writes the output to LOG unchanged, and appends one line per phase ("NAME PHASE
SECONDS", a phase that runs twice, such as destroy, summed) to PHASES, which
tests/harness/test-all.sh prints as a table at the end of make test.
"""

import re
import sys
import time

# "INFO [name > converge] Executing" (no colour, as under make), or "name ➜ converge: Executing".
MARK = re.compile(r"(?:\[[\w.-]+ > (\w+)\]|➜ (\w+):) (Executing|Executed)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def main(name, log_path, phases_path):
    totals, started = {}, {}
    with open(log_path, "wb") as log:
        for line in sys.stdin.buffer:  # bytes: whatever the output holds is logged as it came
            log.write(line)
            log.flush()
            match = MARK.search(ANSI.sub("", line.decode("utf-8", "replace")))
            if not match:
                continue
            phase, what = match.group(1) or match.group(2), match.group(3)
            if what == "Executing":
                started[phase] = time.monotonic()
            elif phase in started:
                totals[phase] = totals.get(phase, 0) + time.monotonic() - started.pop(phase)
    with open(phases_path, "a", encoding="utf-8") as out:
        for phase, seconds in totals.items():
            out.write("%s %s %d\n" % (name, phase, round(seconds)))


if __name__ == "__main__":
    main(*sys.argv[1:4])
