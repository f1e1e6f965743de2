"""Helpers that bring tunegym to other tuners: the warm start to Optuna
(``tunegym.integrations.optuna``), the freeze-thaw agent to Ray Tune
(``tunegym.integrations.ray_tune``)."""
