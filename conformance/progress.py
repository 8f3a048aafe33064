"""What the running clause test has done so far (examples run, cases drawn), for the report."""

from __future__ import annotations

examples = 0
cases: list = []  # the cases drawn by the latest example: after a failure, the shrunk one


def reset():
    global examples
    examples = 0
    cases.clear()


def start_example():
    global examples
    examples += 1
    cases.clear()


def drew(case):
    cases.append(case)
