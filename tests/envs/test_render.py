"""Rendering: the text of ``ansi`` and that text as an image for ``rgb_array`` (what SB3's
``make_vec_env`` and Gymnasium's video recorders ask for)."""

from __future__ import annotations

import warnings

import numpy as np
from stable_baselines3.common.env_util import make_vec_env

import tunegym.envs  # noqa: F401  (registers tunegym/NNTuning-v0)
from tests.bench._toy import EPOCHS, SPACE, make_pool
from tunegym.envs import ENV_ID, FreezeThawEnv, PoolBackend, text_frame


def test_sb3_make_vec_env_renders_frames() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no render_fps warning either
        venv = make_vec_env(ENV_ID, n_envs=2, env_kwargs={"dataset": "sklearn:iris"})
        venv.reset()
        frame = venv.render()
    assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3
    assert (frame < 128).any() and (frame > 128).any()  # text on a background
    venv.close()


def test_freeze_thaw_env_renders_text_and_the_same_text_as_an_image() -> None:
    pool = make_pool(n=4, seeds=1)
    envs = {
        mode: FreezeThawEnv(
            SPACE, pool.configs, PoolBackend(pool), budget=10, max_epochs=EPOCHS, render_mode=mode
        )
        for mode in ("ansi", "rgb_array")
    }
    for env in envs.values():
        env.reset(seed=0)
        env.step(0)
    text = envs["ansi"].render()
    assert isinstance(text, str) and text.startswith("epochs 1/10")
    image = envs["rgb_array"].render()
    assert isinstance(image, np.ndarray)
    np.testing.assert_array_equal(image, text_frame(text))
    assert image.shape[0] == 8 + 12 * len(text.splitlines())
