"""--rnn-summary: a report as a short markdown summary, for a CI job's page ($GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

from collections import Counter

from .verdicts import PASSING, SUMMARY


def heading(entry: dict) -> str:
    """A failing clause's one-line message."""
    message = (entry.get("failure") or {}).get("message") or entry.get("reason") or entry["verdict"]
    return message.strip().splitlines()[0]


def counts_table(implementations: dict) -> list[str]:
    counts = {
        name: Counter(e["verdict"] for e in impl["clauses"].values())
        for name, impl in implementations.items()
    }
    columns = [v for v in SUMMARY if any(c[v] for c in counts.values())]
    lines = ["| implementation | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| `{name}` | " + " | ".join(str(c[v]) for v in columns) + " |" for name, c in counts.items()]
    return lines


def failing_lines(implementations: dict) -> list[str]:
    """One line per clause that did not conform: implementation, clause, verdict, message, script."""
    lines = []
    for name, impl in implementations.items():
        for clause_id, entry in impl["clauses"].items():
            if entry["verdict"] in PASSING:
                continue
            script = (entry.get("failure") or {}).get("reproduction_path")
            where = f" (reproduction: `{script}`)" if script else ""
            lines.append(f"- `{name}` **{clause_id}** {entry['verdict']}: {heading(entry)}{where}")
    return lines


def markdown(report: dict) -> str:
    lines = ["## RNN conformance", ""]
    shard = report.get("shard")
    if shard:
        lines += [f"Shard {shard['index']}/{shard['count']}: {len(shard['items'])} clause tests.", ""]
    if not report.get("complete", True):
        lines += [f"**Incomplete**: {report.get('incomplete_reason')}", ""]
    lines += counts_table(report["implementations"])
    failing = failing_lines(report["implementations"])
    if failing:
        lines += ["", "### Clauses that do not conform", "", *failing]
    else:
        lines += ["", "Every claimed clause conforms."]
    return "\n".join(lines) + "\n"


def write(path: str, report: dict) -> None:
    """Appended, as a CI job's summary file is shared by the job's steps."""
    with open(path, "a") as f:
        f.write(markdown(report))
