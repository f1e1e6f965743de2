"""DEHB (Awad, Mallik & Hutter, IJCAI 2021): differential evolution inside Hyperband's brackets.

tunegym's own implementation (the ``dehb`` package needs ``numpy<2``, see ``docs/BASELINES.md``),
written after the paper and the reference implementation's synchronous, single-worker behaviour.

* **Brackets.** Hyperband's brackets over epochs (`hyperband_brackets`), ``s_max`` down to 0,
  cycled until the budget is spent. One *DEHB iteration* is one pass over all brackets.
* **Subpopulations.** One DE subpopulation per fidelity (the epochs of a rung), as large as the
  most configurations any rung at that fidelity runs. Individuals are points of the unit cube,
  one coordinate per hyperparameter of the search. On the lr × batch-size grid (the unit
  square: learning-rate index, batch-size index) a coordinate ``x`` decodes to the grid index
  ``floor(x * n)`` (the reference's ordinal decoding: ``n`` equal bins; both grids are
  log-spaced, so the index scale is the log scale). Off the grid a point decodes to the
  nearest candidate in the unit cube (`tunegym.envs.SearchSpace.unit`, L2). Individuals start
  uniformly random and unevaluated (fitness ``+inf``). Fitness is the negated validation score
  (DEHB minimises).
* **Targets.** Each configuration of a rung at fidelity ``f`` has a target: the next individual
  of ``f``'s subpopulation, cycling through it.
* **Where a configuration comes from.**

  - Rung 0 of the very first bracket: the target itself (random configurations, plain
    Hyperband), which initialises the lowest fidelity's subpopulation.
  - A later rung during the first DEHB iteration: promotion. The evaluated individuals of the
    lower fidelity's subpopulation, best first, skipping those already in this fidelity's
    subpopulation, give the rung's configurations; with none left, the lower fidelity's best.
  - Otherwise (rung 0 of every later bracket, every rung after the first iteration): DE. The
    parent pool is the lower fidelity's best individuals, as many as the rung runs (rung 0: its
    own fidelity's). With fewer than 3, it is topped up by ``3 - len + 1`` rand/1 mutants drawn
    from the union of all subpopulations (the reference's global pool). A rand/1 mutant
    ``a + F (b - c)`` of three distinct pool members other than the target (random individuals
    fill a pool that is still too small), binomial crossover with the target (``CR``; at least
    one coordinate from the mutant), coordinates outside ``[0, 1]`` re-sampled uniformly.
* **Selection.** A configuration's score at the rung's epochs replaces its target in the
  subpopulation when at least as good (ties replace, as in the reference). A diverged trial
  reports its (worst) score: divergence is data.
* **Trials.** A configuration whose candidate was trained in the lower rung of the same
  bracket continues that trial (``continue``) to the new rung's epochs, once per rung; any other
  configuration starts a new trial trained to the rung's epochs. A trial that lost its env slot
  restarts from scratch (`JobPolicy`).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np

from tunegym.baselines._candidates import nearest_candidate
from tunegym.baselines._hyperband import Bracket, _check_int, hyperband_brackets
from tunegym.baselines._jobs import Job, JobPolicy
from tunegym.envs import TuningEnv

__all__ = ["DEHB", "DEHBRecord", "Origin", "Subpopulation"]

_MIN_POOL = 3  # rand/1 needs three distinct individuals


def decode(vector: np.ndarray, sizes: tuple[int, ...]) -> tuple[int, ...]:
    """Grid indices of a unit-cube point: ``floor(x * n)``, at most ``n - 1``, per coordinate."""
    return tuple(min(int(x * n), n - 1) for x, n in zip(vector, sizes, strict=True))


def rand1_mutation(a: np.ndarray, b: np.ndarray, c: np.ndarray, factor: float) -> np.ndarray:
    """DE's rand/1 mutant ``a + factor * (b - c)``."""
    return a + factor * (b - c)


def binomial_crossover(
    target: np.ndarray, mutant: np.ndarray, prob: float, rng: np.random.Generator
) -> np.ndarray:
    """Each coordinate from ``mutant`` with probability ``prob``, else from ``target``; at least
    one (drawn uniformly) from ``mutant``."""
    cross = rng.random(len(target)) < prob
    if not cross.any():
        cross[rng.integers(len(target))] = True
    return np.where(cross, mutant, target)


def repair(vector: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The vector with each coordinate outside ``[0, 1]`` re-sampled uniformly in ``[0, 1)``."""
    out = vector.copy()
    bad = (out < 0) | (out > 1)
    out[bad] = rng.uniform(0.0, 1.0, size=int(bad.sum()))
    return out


class Origin(enum.Enum):
    """Where a configuration DEHB ran came from."""

    RANDOM = "random"
    PROMOTION = "promotion"
    MUTATION = "mutation"


@dataclass
class Subpopulation:
    """The DE subpopulation of one fidelity.

    Attributes:
        vectors: individuals, one unit-cube point per row.
        fitness: negated validation score per individual (``+inf``: not evaluated).
        next_target: the individual the next configuration at this fidelity targets.
    """

    vectors: np.ndarray
    fitness: np.ndarray
    next_target: int = 0

    def take_target(self) -> int:
        """The next target's index (cycling through the subpopulation)."""
        index = self.next_target
        self.next_target = (index + 1) % len(self.vectors)
        return index

    def best(self, n: int) -> np.ndarray:
        """The ``n`` fittest individuals (stable order: unevaluated ones last)."""
        return self.vectors[np.argsort(self.fitness, kind="stable")[:n]]


@dataclass
class DEHBRecord:
    """One configuration DEHB ran.

    Attributes:
        iteration: the bracket's number in the episode (0, 1, ...).
        s: the bracket's index (as in `Bracket`).
        rung: the rung within the bracket.
        epochs: the rung's epochs (the fidelity).
        vector: the configuration in the unit cube (the individual, before decoding).
        config: the candidate it decoded to (its index in the search's candidates).
        origin: random, promoted or a DE offspring.
        target: its target's index in the fidelity's subpopulation.
        continued: it continued a trial of the lower rung (else it started a new trial).
        val: its validation score at the end of the job (``nan`` before).
        selected: it replaced its target.
    """

    iteration: int
    s: int
    rung: int
    epochs: int
    vector: np.ndarray
    config: int
    origin: Origin
    target: int
    continued: bool
    val: float = math.nan
    selected: bool = False


@dataclass
class _Rung:
    """State of the rung running."""

    index: int
    n: int
    epochs: int
    lower_jobs: list[Job]  # finished jobs of the lower rung of this bracket
    jobs: list[Job] = field(default_factory=list)  # finished jobs of this rung
    issued: int = 0
    promotions: list[np.ndarray] | None = None
    continued: set[int] = field(default_factory=set)  # env trials already continued here


class DEHB(JobPolicy):
    """DEHB over the search's candidates, seeded with the episode's seed.

    Args:
        eta: Hyperband's reduction factor.
        min_epochs: the minimum resource (epochs).
        mutation_factor: DE's ``F`` (rand/1).
        crossover_prob: DE's ``CR`` (binomial crossover).

    Attributes:
        brackets: the brackets of the current episode's task (set by ``reset``).
        populations: fidelity (epochs) -> its `Subpopulation` (set by ``reset``).
        history: every configuration run this episode, in order.
    """

    def __init__(
        self,
        *,
        eta: int = 3,
        min_epochs: int = 1,
        mutation_factor: float = 0.5,
        crossover_prob: float = 0.5,
    ) -> None:
        _check_int("eta", eta, 2)
        _check_int("min_epochs", min_epochs, 1)
        if not 0 < mutation_factor <= 2:
            raise ValueError(f"mutation_factor must be in (0, 2], got {mutation_factor!r}.")
        if not 0 <= crossover_prob <= 1:
            raise ValueError(f"crossover_prob must be in [0, 1], got {crossover_prob!r}.")
        self.eta, self.min_epochs = eta, min_epochs
        self.mutation_factor, self.crossover_prob = float(mutation_factor), float(crossover_prob)

    def _start(self, env: TuningEnv, seed: int) -> None:
        space = self.task.space
        if self.min_epochs > space.max_epochs:
            raise ValueError(
                f"min_epochs ({self.min_epochs}) exceeds the task's E_max ({space.max_epochs})."
            )
        self.brackets: tuple[Bracket, ...] = hyperband_brackets(
            space.max_epochs, self.eta, self.min_epochs
        )
        dim = len(space.names)
        pop_sizes: dict[int, int] = {}
        for bracket in self.brackets:
            for n, epochs in bracket.rungs:
                pop_sizes[epochs] = max(n, pop_sizes.get(epochs, 0))
        self.populations: dict[int, Subpopulation] = {
            epochs: Subpopulation(
                self.rng.uniform(0.0, 1.0, size=(size, dim)), np.full(size, np.inf)
            )
            for epochs, size in sorted(pop_sizes.items())
        }
        self.history: list[DEHBRecord] = []
        self._iteration = -1
        self._rung: _Rung | None = None
        self._record: DEHBRecord | None = None

    # ------------------------------------------------------------------ scheduling

    @property
    def _bracket(self) -> Bracket:
        return self.brackets[self._iteration % len(self.brackets)]

    def _next_job(self) -> Job | None:
        rung = self._rung
        if rung is None or rung.issued == rung.n:
            rung = self._advance()
        rung.issued += 1
        return self._make_job(rung)

    def _advance(self) -> _Rung:
        rung = self._rung
        rungs = self._bracket.rungs if rung is not None else ()
        if rung is not None and rung.index + 1 < len(rungs):
            n, epochs = rungs[rung.index + 1]
            self._rung = _Rung(rung.index + 1, n, epochs, rung.jobs)
        else:
            self._iteration += 1
            n, epochs = self._bracket.rungs[0]
            self._rung = _Rung(0, n, epochs, [])
        return self._rung

    def _make_job(self, rung: _Rung) -> Job:
        pop = self.populations[rung.epochs]
        target = pop.take_target()
        if self._iteration == 0 and rung.index == 0:
            vector, origin = pop.vectors[target].copy(), Origin.RANDOM
        elif self._iteration < len(self.brackets) and rung.index > 0:
            vector, origin = self._promotion(rung), Origin.PROMOTION
        else:
            vector, origin = self._offspring(rung, pop.vectors[target]), Origin.MUTATION
        config = self._decode(vector)
        job = self._continuation(rung, config)
        self._record = DEHBRecord(
            self._iteration,
            self._bracket.s,
            rung.index,
            rung.epochs,
            vector,
            config,
            origin,
            target,
            continued=job is not None,
        )
        self.history.append(self._record)
        return job if job is not None else Job(config, rung.epochs)

    def _decode(self, vector: np.ndarray) -> int:
        """The candidate a unit-cube point stands for (grid: ordinal bins; else the nearest)."""
        space = self.task.space
        if not space.is_grid:
            return nearest_candidate(space, vector)
        n_bs = len(space.batch_sizes)
        lr_index, bs_index = decode(vector, (len(space.lrs), n_bs))
        return lr_index * n_bs + bs_index

    def _lower_epochs(self, rung: _Rung) -> int:
        return self._bracket.rungs[max(rung.index - 1, 0)][1]

    def _promotion(self, rung: _Rung) -> np.ndarray:
        lower = self.populations[self._lower_epochs(rung)]
        if rung.promotions is None:
            here = self.populations[rung.epochs].vectors
            order = np.argsort(lower.fitness, kind="stable")
            evaluated = [lower.vectors[i] for i in order if np.isfinite(lower.fitness[i])]
            fresh = [v for v in evaluated if not np.all(v == here, axis=1).any()]
            rung.promotions = fresh[: rung.n]
        if rung.promotions:
            return rung.promotions.pop(0).copy()
        return lower.best(1)[0].copy()  # all of them already here: the best again

    def _offspring(self, rung: _Rung, target: np.ndarray) -> np.ndarray:
        pool = self.populations[self._lower_epochs(rung)].best(rung.n)
        if len(pool) < _MIN_POOL:
            union = np.concatenate([p.vectors for p in self.populations.values()])
            fill = [self._mutant(union, target) for _ in range(_MIN_POOL - len(pool) + 1)]
            pool = np.concatenate([pool, np.array(fill)])
        mutant = self._mutant(pool, target)
        child = binomial_crossover(target, mutant, self.crossover_prob, self.rng)
        return repair(child, self.rng)

    def _mutant(self, pool: np.ndarray, target: np.ndarray) -> np.ndarray:
        """A rand/1 mutant of three distinct members of ``pool`` other than ``target``."""
        same = np.flatnonzero(np.all(pool == target, axis=1))
        if len(same) and len(pool) > 1:
            pool = np.delete(pool, same[0], axis=0)
        if len(pool) < _MIN_POOL:
            extra = self.rng.uniform(0.0, 1.0, size=(_MIN_POOL - len(pool), pool.shape[1]))
            pool = np.concatenate([pool, extra])
        a, b, c = pool[self.rng.choice(len(pool), size=_MIN_POOL, replace=False)]
        return rand1_mutation(a, b, c, self.mutation_factor)

    def _continuation(self, rung: _Rung, config: int) -> Job | None:
        """The lower rung's trial of this candidate, extended to the rung's epochs, if any."""
        for job in rung.lower_jobs:
            if (
                job.config == config
                and job.trial is not None
                and not job.diverged
                and job.epochs < rung.epochs
                and job.trial not in rung.continued
            ):
                rung.continued.add(job.trial)
                return job.extend(rung.epochs)
        return None

    # ------------------------------------------------------------------ selection

    def _job_done(self, job: Job) -> None:
        record, rung = self._record, self._rung
        if record is None or rung is None:
            return
        self._record = None
        record.val = job.val
        rung.jobs.append(job)
        if not job.done or math.isnan(job.val):
            return  # cut before its fidelity: nothing to compare
        pop = self.populations[rung.epochs]
        fitness = -job.val
        if fitness <= pop.fitness[record.target]:
            pop.vectors[record.target] = record.vector
            pop.fitness[record.target] = fitness
            record.selected = True
