"""What the running clause test has done so far (examples run, cases drawn), for the report."""

from __future__ import annotations

examples = 0
first_failure: int | None = None  # the number of the first example that failed (before shrinking)
cases: list = []  # the cases drawn by the latest example: after a failure, the shrunk one


def reset():
    global examples, first_failure
    examples, first_failure = 0, None
    cases.clear()


def start_example():
    global examples
    examples += 1
    cases.clear()


def drew(case):
    cases.append(case)


def failed():
    global first_failure
    if first_failure is None:
        first_failure = examples
