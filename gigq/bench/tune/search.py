"""``gigq-bench tune``: search for the best worker settings under a durability floor.

The search space is workers × concurrency × journal_mode × synchronous × cache_size
× polling_interval, restricted to the settings whose durability class is at or above
the floor (``power-loss-safe`` > ``crash-safe`` > ``unsafe``): a configuration below
it is never generated, measured or recommended.

The search is coarse-to-fine, with successive halving inside every round:

1. **coarse round** — a balanced sample (a Latin hypercube over the discrete
   levels) of the coarse grid, always including GigQ's defaults. Every candidate
   gets one trial; the best third get two more, the best third of those four
   more, … so most of the budget goes to the contenders;
2. **fine rounds** — the two best so far and their untried neighbours (one
   setting moved to the next level, or to another journal mode / synchronous
   level) go through successive halving again, until the budget for searching is
   spent or no untried neighbour is left. Each round measures its candidates
   afresh and interleaved (in seeded random order), so a drift of the machine's
   load between rounds does not favour the candidates of a quiet minute;
3. **final comparison** — the winner, the winner with its minor settings
   (:data:`SIMPLIFIABLE`) at the defaults' values, and GigQ's defaults are
   re-measured in interleaved rounds (order within each round random). The
   simplified settings are recommended unless they are significantly worse than
   the winner, so a recommendation changes only what was shown to matter. The
   ratio of the recommended settings' median to the defaults' is reported with a
   paired bootstrap 95% interval (:func:`gigq.bench.stats.ratio_of_medians`), but a
   gain is declared only by the paired randomisation test
   (:func:`gigq.bench.stats.difference`) at the 95% level from at least
   :data:`MIN_GAIN_PAIRS` (6) pairs; otherwise it is not significant and the defaults
   stay recommended. The same test decides whether the simplified settings are worse.
   When the search's winner is the defaults, they are compared in the same way with
   the best of the rest (``TuneResult.challenger``): "defaults-fine" needs those
   pairs too (:attr:`TuneResult.verdict`).

The budget is counted in the cost the evaluator reports for each trial (wall
seconds for real trials, simulated seconds in tests): before every trial the tuner
checks that its estimated cost still fits, and a share of the budget is reserved
for the final comparison from the start. Ctrl-C stops at once and keeps what was
measured (``TuneResult.interrupted``).

:class:`Tuner` knows nothing about trials: it calls an evaluator
``evaluate(settings, context) -> Observation``.
:class:`gigq.bench.tune.trials.TrialEvaluator` is the real one (a trial per call,
through :func:`gigq.bench.sweep.plan.measure`); the tests use a synthetic objective.
"""

from __future__ import annotations

import inspect
import math
import os
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gigq import Worker
from gigq.storage import DURABILITY_CLASSES, SQLiteSettings

from .. import metrics, stats
from ..sweep.space import durability_of, format_value

TUNED = ("workers", "concurrency", "journal_mode", "synchronous", "cache_size",
         "polling_interval")
# Dimensions whose levels are ordered: a neighbour is the next level up or down.
ORDERED = ("workers", "concurrency", "cache_size", "polling_interval")
OBJECTIVES = {"throughput": "jobs_per_sec", "latency": "end_to_end_p95_ms"}
DEFAULT_ARRIVAL_RATE = 100.0
# Successive halving: keep the best 1/ETA of a rung; the survivors' repetitions double.
ETA = 3
# Trials one round of successive halving costs per candidate, about (1 + 1/3 + 2/9 +
# 4/27 + ...): used to size a round to its budget.
HALVING_COST = 1.8
# Settings the final comparison also tries at the reference's values: the search
# often moves them within the noise (polling while draining, cache on a small queue),
# and a recommendation should not change what makes no measurable difference.
SIMPLIFIABLE = ("journal_mode", "synchronous", "cache_size", "polling_interval")
FINAL_SHARE = 0.3
MIN_PAIRS = 2
# A gain (or a simplification's loss) is declared only by the paired randomisation
# test at the confidence level and from at least this many pairs: 5 pairs reach at
# best p = 2/32, and a bootstrap interval alone called noise a gain in ~20% of runs.
MIN_GAIN_PAIRS = stats.min_samples_for(stats.DEFAULT_LEVEL, paired=True)
MAX_PAIRS = 15
PRIOR_TRIAL_COST = 2.5


class TuneError(ValueError):
    """Bad tune input; the message says what to do."""


# ---------------------------------------------------------------------------
# Durability and GigQ's defaults


def meets_floor(settings: Mapping[str, Any], floor: str) -> bool:
    """Whether the settings are at least as durable as ``floor``."""
    return DURABILITY_CLASSES.index(durability_of(settings)) <= DURABILITY_CLASSES.index(floor)


def gigq_defaults() -> dict[str, Any]:
    """What `gigq worker` with no options runs: one process, the Worker's and
    SQLiteSettings' defaults (read from the code, so they cannot drift)."""
    params = inspect.signature(Worker.__init__).parameters
    settings = SQLiteSettings()
    return {
        "workers": 1,
        "concurrency": params["concurrency"].default,
        "journal_mode": settings.journal_mode,
        "synchronous": settings.synchronous,
        "cache_size": settings.cache_size,
        "polling_interval": float(params["polling_interval"].default),
    }


def reference_settings(floor: str, wal_ok: bool = True) -> tuple[dict[str, Any], list[str]]:
    """GigQ's defaults, raised to the durability floor (and off WAL where the location
    cannot do WAL), with notes saying what was changed and why."""
    ref = gigq_defaults()
    notes = []
    if not wal_ok and ref["journal_mode"] == "wal":
        ref["journal_mode"] = "delete"
        notes.append("journal_mode=delete instead of GigQ's default wal, which this location "
                     "cannot do")
    if not meets_floor(ref, floor):
        ref["synchronous"] = "full"
        notes.append(f"synchronous=full instead of GigQ's default normal, to meet the "
                     f"{floor} floor")
    return ref, notes


# ---------------------------------------------------------------------------
# The search space


def settings_key(settings: Mapping[str, Any]) -> str:
    """Stable text id of a candidate: ``workers=2 concurrency=16 …`` in TUNED order."""
    return " ".join(f"{dim}={format_value(settings[dim], none='default')}" for dim in TUNED)


@dataclass(frozen=True)
class SearchSpace:
    """The levels of every tuned setting (fine: all of them; coarse: the first
    round's subset) and the durability floor they respect."""

    levels: dict[str, tuple[Any, ...]]
    coarse: dict[str, tuple[Any, ...]]
    floor: str

    def allowed(self, settings: Mapping[str, Any]) -> bool:
        """In the space and at or above the floor."""
        return all(settings.get(d) in self.levels[d] for d in TUNED) and \
            meets_floor(settings, self.floor)

    def coarse_grid(self) -> list[dict[str, Any]]:
        """Every combination of the coarse levels that meets the floor."""
        combos: list[dict[str, Any]] = [{}]
        for dim in TUNED:
            combos = [{**c, dim: v} for c in combos for v in self.coarse[dim]]
        return [c for c in combos if self.allowed(c)]

    def neighbours(self, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Candidates one step away: an ordered setting one level up or down, or
        another value of a categorical one (journal_mode, synchronous)."""
        out = []
        for dim in TUNED:
            values = self.levels[dim]
            i = values.index(settings[dim])
            if dim in ORDERED:
                moves = [values[j] for j in (i - 1, i + 1) if 0 <= j < len(values)]
            else:
                moves = [v for v in values if v != settings[dim]]
            for value in moves:
                candidate = {**settings, dim: value}
                if self.allowed(candidate):
                    out.append(candidate)
        return out

    def as_dict(self) -> dict[str, Any]:
        """Plain data for tune.json."""
        return {"floor": self.floor,
                "levels": {d: list(v) for d, v in self.levels.items()},
                "coarse": {d: list(v) for d, v in self.coarse.items()}}


def _ladder(top: int) -> tuple[int, ...]:
    out, n = [], 1
    while n <= top:
        out.append(n)
        n *= 2
    return tuple(out)


def build_space(floor: str = "crash-safe", objective: str = "throughput",
                cores: int | None = None, wal_ok: bool = True) -> SearchSpace:
    """The search space for a machine with ``cores`` CPUs under a durability floor.

    Workers go from 1 to 4 × cores processes, threads from 1 to 64 per process;
    every journal mode and synchronous level that meets the floor; cache_size
    SQLite's default, 10 MB (the usual rule of thumb) and 64 MB; polling 0.1-5 s.
    The coarse round tries every other level (and only GigQ's default polling
    interval when tuning throughput: a draining worker never sleeps).
    """
    if floor not in DURABILITY_CLASSES:
        raise TuneError(f"unknown durability class {floor!r}; use one of "
                        f"{', '.join(DURABILITY_CLASSES)}")
    if objective not in OBJECTIVES:
        raise TuneError(f"unknown objective {objective!r}; use {' or '.join(OBJECTIVES)}")
    cores = max(1, cores or os.cpu_count() or 1)
    workers = _ladder(max(4 * cores, 4))
    concurrency = _ladder(64)
    rank = DURABILITY_CLASSES.index(floor)
    journals = ["wal", "delete", "truncate", "persist"] if wal_ok else \
        ["delete", "truncate", "persist"]
    syncs = ["normal", "full", "extra"]
    if rank >= DURABILITY_CLASSES.index("unsafe"):
        journals += ["memory", "off"]
        syncs = ["off", *syncs]
    if rank <= DURABILITY_CLASSES.index("power-loss-safe"):
        syncs = ["full", "extra"]
    levels: dict[str, tuple[Any, ...]] = {
        "workers": workers,
        "concurrency": concurrency,
        "journal_mode": tuple(journals),
        "synchronous": tuple(syncs),
        "cache_size": (None, -10000, -64000),
        "polling_interval": (0.1, 0.5, 1.0, 2.0, 5.0),
    }

    def every_other(values: tuple[Any, ...]) -> tuple[Any, ...]:
        picked = list(values[::2])
        if values[-1] not in picked:
            picked.append(values[-1])
        return tuple(picked)

    # The coarse round tries the two journal modes that differ most (WAL against a
    # rollback journal; no journal as well when unsafe is allowed) and the two
    # lowest synchronous levels the floor allows.
    coarse_journals = tuple(journals[:2])
    if "off" in journals:
        coarse_journals += ("off",)
    coarse: dict[str, tuple[Any, ...]] = {
        "workers": every_other(workers),
        "concurrency": every_other(concurrency),
        "journal_mode": coarse_journals,
        "synchronous": tuple(syncs[:2]),
        "cache_size": (None,),
        "polling_interval": (5.0,) if objective == "throughput" else (0.1, 1.0, 5.0),
    }
    return SearchSpace(levels, coarse, floor)


# ---------------------------------------------------------------------------
# Observations and results


@dataclass
class Observation:
    """One measurement of one candidate.

    ``value`` is the objective's metric (jobs/s, or p95 ms). ``valid`` means the
    trial passed verification (every job exactly once); an incomplete trial (cut
    off by its timeout) may still carry a value — the rate it reached — which
    ranks it, but a candidate needs a valid trial to win. ``cost`` is what the
    trial spent of the budget (seconds).
    """

    settings: dict[str, Any]
    value: float | None
    valid: bool
    cost: float
    reason: str | None = None
    row: dict[str, Any] | None = None
    stage: str = ""
    round: int = 0
    rung: int = 0
    role: str = "candidate"

    @property
    def key(self) -> str:
        """The candidate's id."""
        return settings_key(self.settings)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for tune.json (the trial row is kept in results.json)."""
        return {"key": self.key, "settings": dict(self.settings), "value": self.value,
                "valid": self.valid, "cost_s": round(self.cost, 3), "reason": self.reason,
                "stage": self.stage, "round": self.round, "rung": self.rung,
                "role": self.role,
                "trial_id": (self.row or {}).get("trial_id")}


@dataclass
class EvalContext:
    """What the tuner tells the evaluator about a trial it asks for."""

    stage: str
    role: str
    # Budget seconds left: a trial should not run (much) past it.
    remaining: float


Evaluator = Callable[[dict[str, Any], EvalContext], Observation]


@dataclass
class RungRecord:
    """One rung of successive halving: candidates ranked, who went on."""

    rung: int
    reps: int
    ranking: list[dict[str, Any]]  # {key, settings, median, n, valid_n, kept}


@dataclass
class RoundRecord:
    """One round (coarse or fine) of the search."""

    name: str
    candidates: int
    rungs: list[RungRecord] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for tune.json."""
        return {"name": self.name, "candidates": self.candidates,
                "rungs": [{"rung": r.rung, "reps": r.reps, "ranking": r.ranking}
                          for r in self.rungs]}


@dataclass
class Confirmation:
    """The final interleaved re-measurement of the winner against the reference."""

    winner: list[float]
    reference: list[float]
    ratio: stats.Interval | None
    higher_is_better: bool
    winner_ci: stats.Interval | None = None
    reference_ci: stats.Interval | None = None
    test: stats.Difference | None = None  # the paired randomisation test
    level: float = stats.DEFAULT_LEVEL

    @property
    def pairs(self) -> int:
        """Complete pairs measured."""
        return min(len(self.winner), len(self.reference))

    @property
    def p_value(self) -> float:
        """Two-sided p-value of the paired test (NaN when not run)."""
        return self.test.p_value if self.test is not None else math.nan

    @property
    def significant(self) -> bool:
        """The winner is better by the paired randomisation test at ``level``, from at
        least :data:`MIN_GAIN_PAIRS` pairs."""
        t = self.test
        if t is None or not t.significant or t.n < MIN_GAIN_PAIRS:
            return False
        return t.direction == (1 if self.higher_is_better else -1)

    @property
    def why_not(self) -> str:
        """Why the gain is not significant (empty when it is)."""
        if self.significant:
            return ""
        if self.pairs < MIN_GAIN_PAIRS:
            return (f"only {self.pairs} pairs were measured; a gain needs at least "
                    f"{MIN_GAIN_PAIRS}")
        alpha = 1 - self.level
        if self.p_value <= alpha:
            return f"the difference points the wrong way (p={self.p_value:.3g})"
        return f"p={self.p_value:.3g} over {self.pairs} pairs, above {alpha:.2g}"

    def as_dict(self) -> dict[str, Any]:
        """Plain data for tune.json."""
        def interval(i: stats.Interval | None) -> dict[str, float] | None:
            if i is None:
                return None
            return {"estimate": i.estimate, "low": i.low, "high": i.high, "n": i.n,
                    "level": i.level}
        return {"winner": self.winner, "reference": self.reference, "pairs": self.pairs,
                "ratio": interval(self.ratio), "winner_median": interval(self.winner_ci),
                "reference_median": interval(self.reference_ci),
                "higher_is_better": self.higher_is_better, "significant": self.significant,
                "p_value": None if math.isnan(self.p_value) else self.p_value,
                "level": self.level, "min_pairs": MIN_GAIN_PAIRS}


@dataclass
class TuneResult:
    """Everything a tune run found: the search path, the winner, the comparison."""

    space: SearchSpace
    reference: dict[str, Any]
    winner: dict[str, Any] | None
    observations: list[Observation]
    rounds: list[RoundRecord]
    comparison: Confirmation | None
    budget: float
    spent: float
    interrupted: bool = False
    higher_is_better: bool = True
    # The search's winner, and the same with the SIMPLIFIABLE settings at the
    # reference's values (None when that changes nothing); ``simplification`` is
    # simplified / found from the final comparison. ``winner`` is the one of the two
    # that was recommended: the simplified one unless it was significantly worse.
    found: dict[str, Any] | None = None
    simplified: dict[str, Any] | None = None
    simplification: stats.Interval | None = None
    # When the search's winner is the reference: the best other candidate, which the
    # final comparison then measured against it (``comparison``'s winner side).
    challenger: dict[str, Any] | None = None

    @property
    def evaluations(self) -> int:
        """Trials run, the final comparison included."""
        return len(self.observations)

    @property
    def winner_is_reference(self) -> bool:
        """The search found nothing better than the defaults."""
        return self.winner is not None and settings_key(self.winner) == \
            settings_key(self.reference)

    @property
    def verdict(self) -> str:
        """One of :data:`VERDICTS`.

        ``gain``: the final comparison's paired test says the winner is better (p ≤ 0.05,
        at least :data:`MIN_GAIN_PAIRS` pairs). ``defaults-fine``: the defaults were
        compared with a challenger in the final comparison over at least
        :data:`MIN_GAIN_PAIRS` interleaved pairs and the challenger was not
        significantly better — the search's winner, or, when that is the defaults, the
        best of the rest (:attr:`challenger`). ``not-significant``: a winner other
        than the defaults compared over fewer pairs. ``inconclusive``: the search's
        winner is the defaults, but they were not compared with a challenger over
        enough pairs (e.g. the budget paid for a single trial). ``unverified``: no
        winner, or a winner never re-measured against the defaults (no budget left,
        or interrupted).
        """
        if self.winner is None:
            return "unverified"
        if self.winner_is_reference:
            c = self.comparison
            return "defaults-fine" if c is not None and c.pairs >= MIN_GAIN_PAIRS and \
                not c.significant else "inconclusive"
        if self.comparison is None or self.comparison.pairs < MIN_PAIRS:
            return "unverified"
        if self.comparison.significant:
            return "gain"
        if self.comparison.pairs < MIN_GAIN_PAIRS:
            return "not-significant"
        return "defaults-fine"

    @property
    def recommended(self) -> dict[str, Any] | None:
        """What to use: the winner when its gain is significant (or could not be
        checked), else the (floor-raised) defaults."""
        if self.winner is None:
            return None
        return self.reference if self.verdict in KEEP_DEFAULTS else self.winner


# Every value of TuneResult.verdict (and tune.json's "verdict"); with the last three
# GigQ's defaults stay recommended.
VERDICTS = ("gain", "unverified", "defaults-fine", "not-significant", "inconclusive")
KEEP_DEFAULTS = ("defaults-fine", "not-significant", "inconclusive")


# ---------------------------------------------------------------------------
# The tuner


def latin_sample(grid: Sequence[Mapping[str, Any]], levels: Mapping[str, Sequence[Any]],
                 n: int, rng: random.Random) -> list[dict[str, Any]]:
    """``n`` distinct members of ``grid`` in which every level of every dimension
    appears about equally often (a Latin hypercube over discrete levels)."""
    if n >= len(grid):
        return [dict(c) for c in grid]
    allowed = {settings_key(c): dict(c) for c in grid}
    columns = {}
    for dim, values in levels.items():
        column = [values[i % len(values)] for i in range(n)]
        rng.shuffle(column)
        columns[dim] = column
    picked: dict[str, dict[str, Any]] = {}
    for i in range(n):
        candidate = {dim: columns[dim][i] for dim in levels}
        key = settings_key(candidate)
        if key in allowed and key not in picked:
            picked[key] = allowed[key]
    # Rows that repeat one already picked (or fall below the floor) are replaced by
    # random members of the grid.
    rest = [k for k in allowed if k not in picked]
    rng.shuffle(rest)
    while len(picked) < n and rest:
        key = rest.pop()
        picked[key] = allowed[key]
    return list(picked.values())


@dataclass
class TuneProgress:
    """Where a tune run is, for a progress display."""

    stage: str
    spent: float
    budget: float
    evaluations: int
    label: str
    best: str | None = None
    best_value: float | None = None


class _OutOfBudget(Exception):
    pass


class Tuner:
    """Coarse-to-fine search with successive halving, then the final comparison.

    ``evaluate`` runs one trial of a candidate; ``budget`` is in the unit of the
    observations' ``cost``. ``reference`` is what the winner is compared against
    (GigQ's defaults, raised to the floor). Deterministic for a given ``seed`` and
    evaluator.
    """

    def __init__(
        self,
        space: SearchSpace,
        evaluate: Evaluator,
        *,
        budget: float,
        reference: Mapping[str, Any],
        higher_is_better: bool = True,
        seed: int = 1,
        final_share: float = FINAL_SHARE,
        min_pairs: int = MIN_PAIRS,
        max_pairs: int = MAX_PAIRS,
        prior_cost: float = PRIOR_TRIAL_COST,
        progress: Callable[[TuneProgress], None] | None = None,
    ) -> None:
        if budget <= 0:
            raise TuneError("the budget must be positive")
        self.space = space
        self.evaluate_fn = evaluate
        self.budget = float(budget)
        self.reference = dict(reference)
        if not space.allowed(self.reference):
            raise TuneError(f"the reference settings {settings_key(self.reference)} are not in "
                            f"the search space for the {space.floor} floor")
        self.higher_is_better = higher_is_better
        self.rng = random.Random(seed)
        self.seed = seed
        self.min_pairs = min_pairs
        self.max_pairs = max_pairs
        self.prior_cost = prior_cost
        self.progress = progress
        self.observations: list[Observation] = []
        self.rounds: list[RoundRecord] = []
        self.spent = 0.0
        # Reserved for the final comparison from the start: enough for the pairs a
        # gain needs, where the budget allows (a round measures up to three settings).
        self.final_reserve = min(max(final_share * self.budget,
                                     3 * max(min_pairs, MIN_GAIN_PAIRS) * prior_cost),
                                 0.6 * self.budget)
        self._best: tuple[str, float] | None = None
        self._tried: set[str] = set()
        self._round_no = 0

    # -- budget --------------------------------------------------------------

    def estimate(self, settings: Mapping[str, Any]) -> float:
        """Expected cost of one more trial of ``settings``: the most it cost so far,
        else the 90th percentile of all trials so far (else the prior)."""
        key = settings_key(settings)
        own = [o.cost for o in self.observations if o.key == key]
        return max(own) if own else self.typical_cost()

    def typical_cost(self) -> float:
        """The 90th percentile cost of the trials so far (the prior before any)."""
        costs = sorted(o.cost for o in self.observations)
        if not costs:
            return self.prior_cost
        return costs[min(len(costs) - 1, int(0.9 * len(costs)))]

    def _fits(self, settings: Mapping[str, Any], limit: float) -> bool:
        return self.spent + self.estimate(settings) <= limit

    def _search_limit(self) -> float:
        # The reserve shrinks once trial costs are known: no more than max_pairs
        # pairs are ever run, and what they will not need goes to the search.
        needed = self.max_pairs * (self.estimate(self.reference) + 2 * self.typical_cost())
        return self.budget - min(self.final_reserve, needed)

    # -- measuring -----------------------------------------------------------

    def score(self, obs: Observation) -> float | None:
        """Higher is better, whatever the metric's direction (None: unusable)."""
        if obs.value is None or (isinstance(obs.value, float) and math.isnan(obs.value)):
            return None
        return obs.value if self.higher_is_better else -obs.value

    def _measure(self, settings: Mapping[str, Any], limit: float, *, stage: str, round_no: int,
                 rung: int, role: str = "candidate") -> Observation:
        if not self._fits(settings, limit):
            raise _OutOfBudget
        if not self.space.allowed(settings):  # never measure below the floor
            raise TuneError(f"internal: {settings_key(settings)} is outside the space")
        context = EvalContext(stage, role, max(self.budget - self.spent, 0.0))
        obs = self.evaluate_fn(dict(settings), context)
        obs.stage, obs.round, obs.rung, obs.role = stage, round_no, rung, role
        self.observations.append(obs)
        self.spent += obs.cost
        score = self.score(obs)
        if obs.valid and score is not None and role == "candidate" and (
                self._best is None or score > self._best[1]):
            self._best = (obs.key, score)
        self._tell(stage, f"{stage}: {obs.key}")
        return obs

    def _tell(self, stage: str, label: str) -> None:
        if self.progress is None:
            return
        best_value = None
        if self._best is not None:
            best_value = self._best[1] if self.higher_is_better else -self._best[1]
        self.progress(TuneProgress(stage, self.spent, self.budget, len(self.observations), label,
                               self._best[0] if self._best else None, best_value))

    def _rank(self, candidates: Sequence[Mapping[str, Any]], round_no: int
              ) -> list[dict[str, Any]]:
        """Candidates ordered best first by the median score of this round's trials."""
        entries: list[dict[str, Any]] = []
        for c in candidates:
            key = settings_key(c)
            obs = [o for o in self.observations
                   if o.key == key and o.round == round_no and o.role == "candidate"]
            scores = [s for s in (self.score(o) for o in obs) if s is not None]
            median = stats.median(scores) if scores else None
            entries.append({
                "key": key, "settings": dict(c),
                "median": None if median is None else
                (median if self.higher_is_better else -median),
                "score": median, "n": len(obs), "valid_n": sum(o.valid for o in obs),
                "reason": next((o.reason for o in reversed(obs) if o.reason), None),
            })
        # Candidates with a valid trial first, best median first; then those whose
        # trials did not complete (their partial values can rank them out, never in);
        # then the unusable. Ties by key, so the order is stable.
        entries.sort(key=lambda e: (e["score"] is None, not e["valid_n"],
                                    -(e["score"] or 0.0), e["key"]))
        return entries

    def halving(self, candidates: Sequence[Mapping[str, Any]], name: str, round_no: int,
                limit: float, stretch: float | None = None) -> list[dict[str, Any]]:
        """Successive halving over ``candidates`` within ``limit`` (cumulative cost).

        Rung k brings every surviving candidate to 2**k trials in this round
        (interleaved, in random order) and keeps the best 1/ETA. Returns the final
        ranking: the last rung's candidates, then those eliminated later before
        those eliminated earlier.
        """
        record = RoundRecord(name, len(candidates))
        self.rounds.append(record)
        alive = [dict(c) for c in candidates]
        eliminated: list[list[dict[str, Any]]] = []
        reps, rung = 1, 0
        ranking: list[dict[str, Any]] = []
        while alive:
            out_of_budget = False
            try:
                for rep in range(reps):
                    order = list(alive)
                    self.rng.shuffle(order)
                    for c in order:
                        done = sum(1 for o in self.observations if o.key == settings_key(c)
                                   and o.round == round_no and o.role == "candidate")
                        if done > rep:
                            continue
                        self._measure(c, limit, stage=name, round_no=round_no, rung=rung)
            except _OutOfBudget:
                out_of_budget = True
                if rung == 0 and stretch is not None:
                    self._first_trials(alive, name, round_no, stretch)
            ranking = self._rank(alive, round_no)
            measured = [e for e in ranking if e["n"]]
            if not measured:
                record.rungs.append(RungRecord(rung, reps, ranking))
                break
            keep = max(1, math.ceil(len(measured) / ETA))
            # A candidate that failed (no usable value) never goes on.
            survivors = [e for e in measured if e["score"] is not None][:keep]
            for e in ranking:
                e["kept"] = e in survivors and not out_of_budget and len(measured) > 1
            record.rungs.append(RungRecord(rung, reps, ranking))
            if out_of_budget or len(measured) <= 1 or len(survivors) == len(measured):
                break
            eliminated.append([e for e in ranking if e not in survivors])
            alive = [e["settings"] for e in survivors]
            reps *= 2
            rung += 1
            if len(alive) == 1:
                ranking = self._rank(alive, round_no)
                break
        ordered = list(ranking)
        for group in reversed(eliminated):
            ordered.extend(group)
        return ordered

    def _first_trials(self, candidates: Sequence[Mapping[str, Any]], name: str,
                      round_no: int, limit: float) -> None:
        """The round's own share ran out (say, after one slow trial) before the
        reference and a challenger each had a valid trial: go on, within ``limit``
        (the search's), reference first, until they have — a search that measured
        one candidate, or none validly, has nothing to rank."""
        ref_key = settings_key(self.reference)

        def trials(key: str) -> list[Observation]:
            return [o for o in self.observations if o.key == key and o.round == round_no
                    and o.role == "candidate"]

        order = sorted(candidates, key=lambda c: settings_key(c) != ref_key)
        for c in order:
            valid = {k for k in map(settings_key, candidates) if any(o.valid for o in trials(k))}
            if trials(ref_key) and len(valid) >= 2:
                return
            if trials(settings_key(c)):
                continue
            try:
                self._measure(c, limit, stage=name, round_no=round_no, rung=0)
            except _OutOfBudget:
                return

    def _affordable(self, limit: float) -> int:
        return int(max(limit - self.spent, 0.0) / (self.typical_cost() * HALVING_COST))

    # -- the run -------------------------------------------------------------

    def run(self) -> TuneResult:
        """Search, then compare; returns what was found (also after Ctrl-C)."""
        interrupted = False
        found: dict[str, Any] | None = None
        simplified: dict[str, Any] | None = None
        ranking: list[dict[str, Any]] = []
        challenger: dict[str, Any] | None = None
        try:
            ranking = self._search()
            found = self._pick(ranking)
            if found is not None and settings_key(found) != settings_key(self.reference):
                simplified = self.simplify(found)
                self._compare(found, simplified)
            elif found is not None:
                # The defaults won the search: "the defaults are fine" still needs them
                # compared with a challenger, the best of the rest, in interleaved pairs.
                challenger = self._challenger(ranking)
                if challenger is not None:
                    self._compare(challenger, None)
        except KeyboardInterrupt:
            interrupted = True
            if found is None:
                found = self._pick(ranking) or self._best_so_far()
        winner, simplification = self._choose(found, simplified)
        comparison = self._comparison_so_far(
            challenger if challenger is not None else winner,
            "simplified" if winner is not None and winner is simplified else "winner")
        if challenger is not None and comparison is not None and comparison.significant:
            # The runner-up re-measured against the defaults is significantly better.
            found = winner = challenger
        self._tell("done", "interrupted" if interrupted else "finished")
        return TuneResult(self.space, self.reference, winner, self.observations, self.rounds,
                          comparison, self.budget, self.spent, interrupted,
                          self.higher_is_better, found=found, simplified=simplified,
                          simplification=simplification, challenger=challenger)

    def _challenger(self, ranking: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        """The best candidate other than the reference with a valid trial: in the final
        ranking, else over every search trial."""
        ref_key = settings_key(self.reference)
        for e in ranking:
            if e["key"] != ref_key and e["score"] is not None and e["valid_n"]:
                return dict(e["settings"])
        by_key: dict[str, list[float]] = {}
        settings: dict[str, dict[str, Any]] = {}
        for o in self.observations:
            s = self.score(o)
            if o.valid and s is not None and o.role == "candidate" and o.key != ref_key:
                by_key.setdefault(o.key, []).append(s)
                settings[o.key] = o.settings
        if not by_key:
            return None
        return dict(settings[max(by_key, key=lambda k: (stats.median(by_key[k]), k))])

    def simplify(self, found: Mapping[str, Any]) -> dict[str, Any] | None:
        """``found`` with the SIMPLIFIABLE settings at the reference's values, or None
        when that is ``found`` itself, the reference itself, or below the floor."""
        candidate = {**found, **{d: self.reference[d] for d in SIMPLIFIABLE}}
        key = settings_key(candidate)
        if key in (settings_key(found), settings_key(self.reference)) or \
                not self.space.allowed(candidate):
            return None
        return candidate

    def _final_values(self, role: str, other: str) -> tuple[list[float], list[float]]:
        """Paired values of two roles: one each per final round where both are valid."""
        by_round: dict[int, dict[str, float]] = {}
        for o in self.observations:
            if o.stage == "final" and o.valid and o.value is not None:
                by_round.setdefault(o.rung, {})[o.role] = float(o.value)
        pairs = [r for _, r in sorted(by_round.items()) if role in r and other in r]
        return [r[role] for r in pairs], [r[other] for r in pairs]

    def _choose(self, found: dict[str, Any] | None, simplified: dict[str, Any] | None
                ) -> tuple[dict[str, Any] | None, stats.Interval | None]:
        """The simplified settings unless they were significantly worse than found."""
        if found is None or simplified is None:
            return found, None
        simple, best = self._final_values("simplified", "winner")
        if len(simple) < MIN_PAIRS:
            return found, None
        ratio = stats.ratio_of_medians(best, simple, paired=True, seed=self.seed)
        test = stats.difference(best, simple, paired=True, min_n=MIN_GAIN_PAIRS,
                                seed=self.seed)
        worse = test.significant and test.direction == (-1 if self.higher_is_better else 1)
        return (found if worse else simplified), ratio

    def _search(self) -> list[dict[str, Any]]:
        limit = self._search_limit()
        # Coarse round: half of the search budget.
        grid = self.space.coarse_grid()
        coarse_limit = self.spent + (limit - self.spent) / 2
        n = max(3, min(self._affordable(coarse_limit), len(grid) + 1))
        sample = latin_sample(grid, self.space.coarse, n - 1, self.rng)
        ref_key = settings_key(self.reference)
        candidates = [dict(self.reference)] + [c for c in sample if settings_key(c) != ref_key]
        ranking = self.halving(candidates, "coarse", 0, coarse_limit, stretch=limit)
        self._tried = {settings_key(c) for c in candidates}
        ranking = self._fine_rounds(ranking, limit)
        found = self._pick(ranking)
        if found is not None and settings_key(found) == ref_key:
            # Nothing beat the defaults: the comparison will be of two settings (the
            # defaults and the best of the rest, or a late winner), so the budget kept
            # for it goes to the search — all but what those pairs need.
            keep = max(self.min_pairs, MIN_GAIN_PAIRS) * (self.estimate(self.reference) +
                                                         self.typical_cost())
            ranking = self._fine_rounds(ranking, self.budget - keep)
        return ranking

    def _fine_rounds(self, ranking: list[dict[str, Any]], limit: float
                     ) -> list[dict[str, Any]]:
        """The two best and their untried neighbours, round after round, until the
        budget up to ``limit`` is spent or nothing new is left to try."""
        while True:
            incumbents = [e["settings"] for e in ranking if e["score"] is not None][:2]
            if not incumbents:
                break
            pool: list[dict[str, Any]] = []
            for inc in incumbents:
                near = [c for c in self.space.neighbours(inc) if settings_key(c) not in
                        self._tried and settings_key(c) not in {settings_key(p) for p in pool}]
                self.rng.shuffle(near)
                pool.extend(near)
            room = self._affordable(limit) - len(incumbents)
            if room < 1:
                # Not enough for successive halving: a single rung, one trial each.
                trials = int(max(limit - self.spent, 0.0) / self.typical_cost())
                if trials - len(incumbents) < 1:
                    # Not even that with both incumbents: the best one and what is
                    # left, rather than leaving the budget unused.
                    incumbents = incumbents[:1]
                room = trials - len(incumbents)
            if not pool or room < 1:
                break
            # Neighbours of the best first, then of the runner-up.
            new = pool[:room]
            self._round_no += 1
            self._tried.update(settings_key(c) for c in new)
            round_ranking = self.halving([*incumbents, *new], f"fine {self._round_no}",
                                         self._round_no, limit)
            if not any(e["n"] for e in round_ranking):
                break
            ranking = round_ranking
        return ranking

    def _pick(self, ranking: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        """The best-ranked candidate with at least one valid trial in its round."""
        for e in ranking:
            if e["score"] is not None and e["valid_n"]:
                return dict(e["settings"])
        return None

    def _best_so_far(self) -> dict[str, Any] | None:
        # After an early Ctrl-C: the best median over every valid trial so far.
        by_key: dict[str, list[float]] = {}
        settings: dict[str, dict[str, Any]] = {}
        for o in self.observations:
            s = self.score(o)
            if o.valid and s is not None and o.role == "candidate":
                by_key.setdefault(o.key, []).append(s)
                settings[o.key] = o.settings
        if not by_key:
            return None
        best = max(by_key, key=lambda k: (stats.median(by_key[k]), k))
        return dict(settings[best])

    def _compare(self, found: Mapping[str, Any], simplified: Mapping[str, Any] | None) -> None:
        """Interleaved rounds of the winner, its simplified form (if any) and the
        reference, in random order within each round, while the budget lasts."""
        members = [("winner", found), ("reference", self.reference)]
        if simplified is not None:
            members.append(("simplified", simplified))
            # Too little budget left for the three of them to reach the pairs a gain
            # needs: the comparison with the reference comes first.
            cost = sum(self.estimate(settings) for _, settings in members)
            if self.spent + max(self.min_pairs, MIN_GAIN_PAIRS) * cost > self.budget:
                members.pop()
        rounds = 0
        while rounds < self.max_pairs:
            cost = sum(self.estimate(settings) for _, settings in members)
            if rounds >= self.min_pairs and self.spent + cost > self.budget:
                break
            order = list(members)
            self.rng.shuffle(order)
            for role, settings in order:
                self._measure(settings, math.inf, stage="final", round_no=-1, rung=rounds,
                              role=role)
            rounds += 1

    def _comparison_so_far(self, winner: Mapping[str, Any] | None,
                           role: str = "winner") -> Confirmation | None:
        """``role``'s final trials against the reference's, paired by round."""
        if winner is None:
            return None
        w, r = self._final_values(role, "reference")
        if not w:
            return None
        ratio = stats.ratio_of_medians(r, w, paired=True, seed=self.seed)
        test = stats.difference(r, w, paired=True, min_n=MIN_GAIN_PAIRS, seed=self.seed)
        return Confirmation(w, r, ratio, self.higher_is_better,
                          stats.bootstrap_median(w, seed=self.seed),
                          stats.bootstrap_median(r, seed=self.seed), test)


# ---------------------------------------------------------------------------
# Budgets


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h)?\s*$", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """``"20s"``, ``"5m"``, ``"1h"``, ``"90"`` (seconds) → seconds."""
    match = _DURATION.match(str(text))
    if not match:
        raise TuneError(f"invalid duration {text!r}; write e.g. 20s, 5m or 1h")
    number = float(match.group(1))
    unit = (match.group(2) or "s").lower()
    seconds = number * {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[unit]
    if seconds <= 0:
        raise TuneError(f"the budget must be positive, got {text!r}")
    return seconds


def objective_metric(objective: str) -> metrics.Metric:
    """The metric an objective optimises (its direction comes from its definition)."""
    try:
        return metrics.metric(OBJECTIVES[objective])
    except KeyError:
        raise TuneError(f"unknown objective {objective!r}; use "
                        f"{' or '.join(OBJECTIVES)}") from None
