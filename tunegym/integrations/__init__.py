"""Helpers that bring tunegym's warm start to other tuners (``tunegym.integrations.optuna``)."""
