"""Reproduction scripts: a failing example's draws, replayed through its clause's own check."""

from __future__ import annotations

import importlib
import re
import traceback
import warnings
from pathlib import Path

from hypothesis.errors import HypothesisDeprecationWarning, HypothesisException

from . import diagnosis
from .compare import Accuracy, measuring
from .spec.clauses import CLAUSES

#: What a script's exit status says.
CONFORMS, FAILS, CANNOT_REPLAY = 0, 1, 2


class ReplayError(Exception):
    """The recorded draws do not fit the clause's code (it changed since the script was written)."""


class Replayed:
    """What a clause test draws from, in a script: the recorded values, in order, label by label."""

    def __init__(self, clause_id: str, draws: list):
        self.clause_id, self.draws = clause_id, list(draws)

    def draw(self, strategy, label=None):
        if not self.draws:
            raise ReplayError(
                f"the clause drew {label or 'a value'!r}, but the example recorded no more draws"
            )
        recorded, value = self.draws.pop(0)
        if recorded != label:
            raise ReplayError(f"the clause drew {label!r}, but the example recorded {recorded!r} next")
        return value


def clause_body(clause_id: str):
    """The undecorated check of a clause: what its test runs on each example."""
    spec = CLAUSES[clause_id]
    module = importlib.import_module(f"conformance.clauses.{spec.module}")
    return getattr(module, spec.test_name).rnn_clause_body


def replay(impl_name: str, clause_id: str, draws: list, declared_rtol=None, **resolve_options) -> int:
    """Run clause ``clause_id``'s check on ``impl_name`` with ``draws`` ((label, value) pairs, as the
    example drew them); print the verdict and return the exit status: CONFORMS, FAILS or CANNOT_REPLAY.
    ``declared_rtol``: the run's --rnn-rtol ({dtype: rtol}); ``resolve_options``: registry.resolve's
    (the run's --rnn-kind, --rnn-dtypes, ...)."""
    from .registry import resolve

    spec = CLAUSES[clause_id]
    impl = resolve(impl_name, **resolve_options)
    try:
        with warnings.catch_warnings(), measuring(Accuracy(declared_rtol)):
            warnings.simplefilter("ignore", HypothesisDeprecationWarning)  # assume() outside a test
            clause_body(clause_id)(impl.restricted(spec.modes), Replayed(clause_id, draws))
    except AssertionError as e:  # a Mismatch, or what the implementation did (raised, hung, ...)
        diagnosis.of(e)  # the known dialects that reproduce the result, as a note
        notes = "".join(f"\n{note}" for note in getattr(e, "__notes__", []))
        print(f"{impl_name} fails clause {clause_id}: {spec.statement}\n\n{e}{notes}")
        return FAILS
    except (HypothesisException, ReplayError) as e:  # assume() refused the example, or the draws do not fit
        print(f"cannot replay this example of clause {clause_id}: {type(e).__name__}: {e}")
        return CANNOT_REPLAY
    except Exception:
        traceback.print_exc()
        print(f"\nan error of rnn-conformance while replaying clause {clause_id}, not a verdict")
        return CANNOT_REPLAY
    print(f"{impl_name} conforms to clause {clause_id} on this example")
    return CONFORMS


def script(impl_name: str, clause_id: str, draws: list, options) -> str:
    """The text of a standalone script that replays ``draws`` (see ``replay``) as the run with
    ``options`` (the plugin's Options) resolved the implementation, importing from its rootdir."""
    rerun = options.rerun(impl_name, CLAUSES[clause_id].test_name)
    lines = [f"    ({label!r}, {value!r})," for label, value in draws]
    return "\n".join(
        [
            f'"""{impl_name} against clause {clause_id} of rnn-conformance, on one example.',
            "",
            "Runs the clause's own check on the example that failed: exit status 1 while the implementation",
            "still fails it, 0 once it conforms (2: the example cannot be replayed). `python THIS_FILE NAME`",
            "checks implementation NAME on it instead. The run that found it:",
            f"    {rerun}",
            '"""',
            "import sys",
            "",
            "from conformance import Case, Config  # noqa: F401 (the draws' repr)",
            "from conformance.reproduce import replay",
            "",
            f"sys.path.append({options.rootdir!r})  # the run's rootdir, where pytest imported from",
            "DRAWS = [",
            *lines,
            "]",
            f"IMPL = sys.argv[1] if len(sys.argv) > 1 else {impl_name!r}",
            f"sys.exit(replay(IMPL, {clause_id!r}, DRAWS, **{options.replay_options()!r}))",
            "",
        ]
    )


def write(directory, impl_name: str, clause_id: str, text: str, number: int = 1) -> Path:
    """Save a script as DIRECTORY/IMPL/CLAUSE.py (CLAUSE-2.py... for the other distinct failures of a
    clause), replacing an earlier run's; returns its path."""
    folder = Path(directory) / re.sub(r"[^\w.-]+", "_", impl_name)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (f"{clause_id}.py" if number == 1 else f"{clause_id}-{number}.py")
    path.write_text(text)
    return path
