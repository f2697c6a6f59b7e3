"""A real process taking machine-wide slots, for tests/core/test_slots.py.

python -m tests.core.slot_process record DIR COUNT OUT ROUNDS
    ROUNDS times: take a slot, append "start_ns end_ns" of the time held to OUT.
python -m tests.core.slot_process hold DIR COUNT
    take a slot, print "held", wait for a line on stdin, then release and exit.
python -m tests.core.slot_process again DIR COUNT OUT
    as `hold`, then at once take a slot again and append "again" to OUT.
python -m tests.core.slot_process mark DIR COUNT OUT
    take a slot and append "waiter" to OUT.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from app.core.slots import MachineSlots

HELD_S = 0.05


def record(slots: MachineSlots, out: Path, rounds: int) -> None:
    for _ in range(rounds):
        with slots.hold():
            start = time.monotonic_ns()
            time.sleep(HELD_S)  # long enough that two unlimited holders would overlap
            end = time.monotonic_ns()
        with out.open("a") as file:
            file.write(f"{start} {end}\n")


def hold(slots: MachineSlots) -> None:
    with slots.hold():
        print("held", flush=True)
        sys.stdin.readline()


def mark(slots: MachineSlots, out: Path, line: str) -> None:
    with slots.hold(), out.open("a") as file:
        file.write(f"{line}\n")


def main(argv: list[str]) -> None:
    mode, directory, count = argv[0], Path(argv[1]), int(argv[2])
    slots = MachineSlots(directory, count)
    if mode == "record":
        record(slots, Path(argv[3]), int(argv[4]))
    elif mode == "again":
        hold(slots)
        mark(slots, Path(argv[3]), "again")
    elif mode == "mark":
        mark(slots, Path(argv[3]), "waiter")
    else:
        hold(slots)


if __name__ == "__main__":
    main(sys.argv[1:])
