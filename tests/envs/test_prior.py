"""`RankWeightedPrior`: the warm start's prior re-weighted by how meta-train tasks rank the scores."""

from __future__ import annotations

import numpy as np
import pytest

from tests.bench._toy import EPOCHS, SPACE, make_pool
from tunegym.envs import (
    EARLY_EPOCH,
    ROW_FIELDS,
    CurvePool,
    FreezeThawEnv,
    PoolBackend,
    RankWeightedPrior,
    config_prior,
    meta_log_weights,
)

E = 6
CONFIGS = tuple(SPACE.sample(12, seed=0))


def _pool(finals: np.ndarray, name: str = "toy") -> CurvePool:
    """A task over `CONFIGS` whose curves rise to ``finals`` (one seed, no noise)."""
    val = np.asarray(finals)[:, None, None] * np.linspace(0.5, 1.0, EPOCHS)[None, None, :]
    return CurvePool(name, name, "meta-train", SPACE, CONFIGS, val, val, np.ones_like(val))


def _ramp(finals: list[float]) -> np.ndarray:
    """``[N, E]`` curves rising linearly to ``finals``."""
    return np.outer(finals, np.linspace(0.2, 1.0, E))


def _two_tasks() -> RankWeightedPrior:
    """Two meta-train tasks over 4 candidates that rank them in opposite orders."""
    up, down = [0.1, 0.4, 0.7, 1.0], [1.0, 0.7, 0.4, 0.1]
    curves = np.stack([_ramp(up), _ramp(down)])
    finals = np.array([[0.0, 1 / 3, 2 / 3, 1.0], [1.0, 2 / 3, 1 / 3, 0.0]])
    return RankWeightedPrior(curves, finals, beta=1.0)


def test_before_two_candidates_are_seen_it_is_the_static_prior() -> None:
    prior = _two_tasks()
    np.testing.assert_allclose(prior.static, [0.5, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(prior.predict([0, 0, 0, 0], [0, 0, 0, 0]), prior.static)
    np.testing.assert_allclose(prior.predict([3, 0, 0, 0], [0.9, 0, 0, 0]), prior.static)
    np.testing.assert_allclose(prior.weights, [0.5, 0.5])


def test_the_task_that_ranks_the_seen_scores_alike_takes_the_weight() -> None:
    prior = _two_tasks()
    # candidate 3 scores above candidate 0, as on the first task (read at the epochs reached)
    after = prior.predict([2, 0, 0, 4], [0.1, 0.0, 0.0, 0.5])
    assert prior.weights[0] > 0.7 > prior.weights[1]
    assert after[3] > after[2] > after[1] > after[0]
    # the opposite order moves the weight to the second task
    after = prior.predict([2, 0, 0, 4], [0.5, 0.0, 0.0, 0.1])
    assert prior.weights[1] > 0.7 and after[0] > after[3]
    # beta 0: every task alike whatever was seen
    flat = RankWeightedPrior(prior.curves, prior.finals, beta=0.0)
    np.testing.assert_allclose(flat.predict([2, 0, 0, 4], [0.1, 0, 0, 0.5]), flat.static)


def test_from_pools_is_config_priors_static_prior() -> None:
    rng = np.random.default_rng(0)
    train = [_pool(rng.uniform(0.5, 0.9, 12), f"t{i}") for i in range(3)]
    configs = list(train[0].configs[:8])
    prior = RankWeightedPrior.from_pools(train, configs, SPACE)
    np.testing.assert_allclose(prior.static, config_prior(train, configs, SPACE), atol=1e-6)
    assert prior.curves.shape == (3, 8, EPOCHS)
    np.testing.assert_allclose(prior.curves[1], train[1].truth[:8])
    # a configuration no task recorded reads its nearest one's curve
    other = {**configs[2], "lr": configs[2]["lr"] * 1.001}
    near = RankWeightedPrior.from_pools(train, [other, configs[5]], SPACE)
    np.testing.assert_allclose(near.curves[0, 0], train[0].truth[2])


def test_bad_arguments_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="tasks, candidates, epochs"):
        RankWeightedPrior(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        RankWeightedPrior(np.full((1, 2, 3), np.nan), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="beta"):
        RankWeightedPrior(np.zeros((1, 2, 3)), np.zeros((1, 2)), beta=-1)
    with pytest.raises(ValueError, match="at least one meta-train task"):
        RankWeightedPrior.from_pools([], [], SPACE)
    pool = make_pool(n=12, seeds=1)
    prior = RankWeightedPrior.from_pools([pool], pool.configs[:4], SPACE)
    with pytest.raises(ValueError, match="holds 4 candidates, the env 8"):
        FreezeThawEnv(SPACE, pool.configs[:8], PoolBackend(pool), budget=10,
                      max_epochs=EPOCHS, prior=prior)  # fmt: skip


def test_the_env_shows_the_prior_as_it_follows_the_episode() -> None:
    finals = np.linspace(0.5, 0.9, 12)[np.random.default_rng(1).permutation(12)]
    target = _pool(finals)
    # two meta-train tasks: the target itself and its mirror image (the ranking reversed)
    mirror = _pool(1.4 - finals, "mirror")
    configs = target.configs[:8]
    prior = RankWeightedPrior.from_pools([target, mirror], configs, SPACE, beta=2.0)
    env = FreezeThawEnv(SPACE, configs, PoolBackend(target), budget=40, max_epochs=EPOCHS,
                        prior=prior)  # fmt: skip
    p, rank = ROW_FIELDS.index("prior"), ROW_FIELDS.index("prior_rank")

    def rows(obs: np.ndarray) -> np.ndarray:
        return obs[-8 * len(ROW_FIELDS) :].reshape(8, -1)

    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(rows(obs)[:, p], 0.5, atol=1e-6)  # the two tasks cancel out
    order = np.argsort(-target.truth[:8, -1])
    for c in (order[0], order[-1], order[3]):  # three candidates, 3 epochs each
        obs, *_ = env.step(int(c) * len(env.k_choices) + env.k_choices.index(2))
    assert prior.weights[0] > 0.9  # the task that ranks them as the target does
    shown = rows(obs)
    assert shown[order[0], rank] == 1.0 and shown[order[0], p] > 0.9
    np.testing.assert_allclose(env.prior, 0.5, atol=1e-6)  # the static prior is kept
    obs, _ = env.reset(seed=1)  # a new episode starts from the static prior again
    np.testing.assert_allclose(rows(obs)[:, p], 0.5, atol=1e-6)


def test_meta_features_set_the_tasks_starting_weights() -> None:
    near, far = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    logw = meta_log_weights(np.array([0.5, 0.4]), [near, far, None], gamma=20.0)
    assert logw is not None and logw[0] == 0.0 and logw[1] < logw[2] < logw[0]  # unknown: mean
    assert meta_log_weights(None, [near]) is None  # the task's own are unknown
    assert meta_log_weights(np.zeros(2), [near]) is None  # zeros: unknown
    assert meta_log_weights(near, [None, np.zeros(2)]) is None  # no task's are known
    assert meta_log_weights(near, [far], gamma=0.0) is None
    plain = _two_tasks()
    prior = RankWeightedPrior(plain.curves, plain.finals, beta=1.0, log_weights=[0.0, -np.log(3)])
    np.testing.assert_allclose(prior.static, 0.75 * plain.finals[0] + 0.25 * plain.finals[1],
                               rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(prior.predict(np.zeros(4), np.zeros(4)), prior.static)
    np.testing.assert_allclose(prior.weights, [0.75, 0.25])
    # once scores are seen, a mis-ranked pair costs each task the same beta as before
    seen = prior.predict([2, 2, 0, 0], [0.1, 0.3, 0.0, 0.0])  # ranked as the first task does
    unweighted = plain.predict([2, 2, 0, 0], [0.1, 0.3, 0.0, 0.0])
    assert prior.weights[0] > plain.weights[0] and seen[3] > unweighted[3]
    with pytest.raises(ValueError, match="log_weights must hold 2 finite values"):
        RankWeightedPrior(plain.curves, plain.finals, log_weights=[0.0])


def test_at_epoch_is_the_weighted_tasks_scaled_score_at_that_epoch() -> None:
    plain = _two_tasks()
    prior = RankWeightedPrior(plain.curves, plain.finals, beta=1.0, log_weights=[0.0, -np.log(3)])
    up = np.array([0.0, 1 / 3, 2 / 3, 1.0])  # the first task's curves, scaled at any epoch
    np.testing.assert_allclose(prior.at_epoch(1), 0.75 * up + 0.25 * up[::-1], rtol=1e-6)
    np.testing.assert_allclose(prior.at_epoch(10_000), prior.at_epoch(E), rtol=1e-6)  # clipped
    # a candidate ahead early and behind at the end on the weighted task
    curves = plain.curves.copy()
    curves[0, 0, 0] = 2.0
    early = RankWeightedPrior(curves, plain.finals, log_weights=[0.0, -np.log(3)])
    assert np.argmax(early.at_epoch(1)) == 0 and np.argmax(early.at_epoch(E)) == 3
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="epoch must be an int >= 1"):
            prior.at_epoch(bad)  # type: ignore[arg-type]


def test_the_rows_show_the_priors_early_look_as_it_follows_the_episode() -> None:
    finals = np.linspace(0.5, 0.9, 12)[np.random.default_rng(1).permutation(12)]
    target, mirror = _pool(finals), _pool(1.4 - finals, "mirror")
    configs = target.configs[:8]
    prior = RankWeightedPrior.from_pools([target, mirror], configs, SPACE, beta=2.0)
    env = FreezeThawEnv(SPACE, configs, PoolBackend(target), budget=40, max_epochs=EPOCHS,
                        prior=prior)  # fmt: skip
    early = ROW_FIELDS.index("prior_early")

    def shown(obs: np.ndarray) -> np.ndarray:
        return obs[-8 * len(ROW_FIELDS) :].reshape(8, -1)[:, early]

    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(shown(obs), 0.5, atol=1e-6)  # the two tasks cancel out
    order = np.argsort(-target.truth[:8, -1])
    for c in (order[0], order[-1], order[3]):
        obs, *_ = env.step(int(c) * len(env.k_choices) + env.k_choices.index(2))
    assert prior.weights[0] > 0.9 and np.argmax(shown(obs)) == order[0]
    np.testing.assert_allclose(shown(obs), prior.at_epoch(EARLY_EPOCH), rtol=1e-6)
    # an array prior: the row shows it
    plain = FreezeThawEnv(SPACE, configs, PoolBackend(target), budget=40, max_epochs=EPOCHS,
                          prior=np.linspace(0.1, 0.8, 8))  # fmt: skip
    obs, _ = plain.reset(seed=0)
    np.testing.assert_allclose(shown(obs), np.linspace(0.1, 0.8, 8), rtol=1e-6)
