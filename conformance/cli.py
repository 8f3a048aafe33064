"""``rnn-conformance NAME [pytest args...]``: check one implementation; ``rnn-conformance merge``: reports."""

from __future__ import annotations

import sys

USAGE = """usage: rnn-conformance NAME [pytest options...]
       rnn-conformance merge REPORT.json... [--rnn-report=OUT.json] [--rnn-summary=PATH]
       rnn-conformance matrix [--check] [--only NAME] [--rnn-impl NAME] [--out docs/MATRIX.md] ...

Checks NAME (as --rnn-impl takes it: a registered name, module:Class mirroring torch.nn.RNN/GRU,
or module:adapter) against every clause and prints a verdict per clause. Any pytest option
can follow, e.g. -n auto, -k gru, --rnn-report=verdicts.json, --hypothesis-seed=0.
The exit code is pytest's: 0 all claimed clauses conform, 1 some fail.

merge: one verdict table of the JSON reports of several runs (--rnn-shard=K/N shards, other
implementations), and the merged report; exit 1 where a clause fails or is missing from them all.
matrix: every registered implementation, each in a process of its own: docs/MATRIX.md and
docs/MATRIX.json (see rnn-conformance matrix --help)."""

#: quiet (a dot per test, no per-test lines); the verdict table follows
DEFAULTS = ["-q", "-p", "no:cacheprovider"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if not argv or argv[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 4  # pytest's usage-error code
    if argv[0] == "matrix":
        from .matrix import main as matrix

        return matrix(argv[1:])
    if argv[0] == "merge":
        from .pytest_plugin.merge import main as merge

        return merge(argv[1:])
    import pytest

    name, rest = argv[0], argv[1:]
    return int(pytest.main(["--pyargs", "conformance", f"--rnn-impl={name}", *DEFAULTS, *rest]))


if __name__ == "__main__":
    sys.exit(main())
