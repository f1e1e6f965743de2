"""`tune` with the model zoo: the tuned model is kept, found again by schema, fine-tuned."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from sqlalchemy import select
from sqlalchemy.orm import Session

from tunegym.agent import tune
from tunegym.metastore import MetaStore, Run
from tunegym.space import FINE_TUNE


@pytest.fixture(scope="module")
def zoo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose zoo holds the model of a short freeze-thaw run on keel:iris."""
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("zoo") / "team.db"
    result = tune("keel:iris", budget_epochs=6, store=str(path), transfer=False)
    assert "kept in the zoo as" in result.prior
    return path


def test_a_tuned_model_joins_the_zoo_with_its_schema_and_configuration(zoo_store: Path) -> None:
    with MetaStore(zoo_store) as store:
        (entry,) = store.zoo_models()
        weights = store.zoo_weights(entry)
    assert entry.dataset == "keel:iris" and len(entry.class_names) == 3
    assert FINE_TUNE not in entry.config and "learning_rate" in entry.config
    assert entry.spec["kind"] == "funnel" and entry.feature_names_out
    assert all(isinstance(w, torch.Tensor) for w in weights.values())


def _logged_sources(path: Path) -> list[str]:
    with MetaStore(path) as store, Session(store.engine) as session:
        inits = session.execute(select(Run.init, Run.checkpoint)).all()
    return [str(c) for i, c in inits if str(i) == "checkpoint"]


def test_new_data_of_the_same_table_finds_last_runs_model_and_checks_it_helps(
    zoo_store: Path,
) -> None:
    # keel:iris0 is iris relabelled (2 classes): same feature schema, so the store's model is
    # found; its output layer is replaced. Setosa against the rest is linear in the raw
    # inputs, so the iris model's features cannot score higher: the transfer check leaves
    # fine-tuning out, unless told not to check.
    with MetaStore(zoo_store) as store:
        iris = store.zoo_models(dataset="keel:iris")[0].name
    checked = tune("keel:iris0", budget_epochs=4, store=str(zoo_store), seed=1)
    assert f"fine-tuning from {iris}" in checked.prior
    assert "a new output layer, probed" in checked.prior  # 3 classes -> 2
    assert "transfer check: a linear probe on its features scores 1.000" in checked.prior
    assert "so no fine-tuning candidates" in checked.prior
    assert "fine-tuning warm start" not in checked.prior
    assert not any(t.config.get(FINE_TUNE) for t in checked.trials)
    unchecked = tune("keel:iris0", budget_epochs=4, store=str(zoo_store), seed=1,
                     from_model=iris, transfer_check=False)  # fmt: skip
    assert "transfer check" not in unchecked.prior
    assert "fine-tuning warm start from 39 meta-train targets" in unchecked.prior
    with MetaStore(zoo_store) as store:
        assert len(store.zoo_models(dataset="keel:iris0")) == 2  # both runs' models joined


def test_every_fine_tuning_trial_is_logged_with_its_source(zoo_store: Path) -> None:
    with MetaStore(zoo_store) as store:
        iris = store.zoo_models(dataset="keel:iris")[0].name
    before = len(_logged_sources(zoo_store))
    # 24 epochs: the agent probes the portfolio's first three picks, the third one fine-tunes
    result = tune("keel:iris", budget_epochs=24, store=str(zoo_store), seed=1, from_model=iris)
    assert "transfer check" not in result.prior  # the same classes: its output layer is kept
    fine = [t for t in result.trials if t.config.get(FINE_TUNE) == 1]
    logged = _logged_sources(zoo_store)[before:]
    assert fine and len(logged) == len(fine)
    assert set(logged) == {iris}


def test_from_model_picks_a_zoo_model_by_name_and_no_transfer_skips_the_lookup(
    zoo_store: Path,
) -> None:
    with MetaStore(zoo_store) as store:
        name = store.zoo_models(dataset="keel:iris")[0].name
    chosen = tune("keel:iris", budget_epochs=4, store=str(zoo_store), from_model=name, seed=2)
    assert f"fine-tuning from {name} (given; " in chosen.prior
    plain = tune("keel:iris", budget_epochs=4, store=str(zoo_store), transfer=False, seed=3)
    assert "fine-tuning from" not in plain.prior


def test_from_model_errors_say_what_to_do(zoo_store: Path) -> None:
    with pytest.raises(ValueError, match="pass the store"):
        tune("keel:iris", budget_epochs=4, from_model="iris")
    with pytest.raises(ValueError, match="zoo list"):
        tune("keel:iris", budget_epochs=4, store=str(zoo_store), from_model="no-such-model")
    with pytest.raises(ValueError, match="freeze-thaw agent"):
        tune("keel:iris", budget_epochs=4, method="random", store=str(zoo_store), from_model=1)


def test_an_installed_transfer_agent_decides_unless_an_agent_is_given(
    zoo_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from tunegym.agent import _ftagent

    installed = tmp_path / "freeze_thaw_transfer"
    shutil.copytree(_ftagent.DEFAULT_FT_AGENT_DIR, installed)  # any freeze-thaw agent will do
    monkeypatch.setattr(_ftagent, "DEFAULT_TRANSFER_AGENT_DIR", installed)
    with MetaStore(zoo_store) as store:
        name = store.zoo_models(dataset="keel:iris")[0].name
    run = tune("keel:iris", budget_epochs=4, store=str(zoo_store), from_model=name, seed=4)
    assert "; the transfer agent decides" in run.prior
    given = tune("keel:iris", budget_epochs=4, store=str(zoo_store), from_model=name, seed=4,
                 agent=_ftagent.DEFAULT_FT_AGENT_DIR)  # fmt: skip
    assert "the transfer agent" not in given.prior  # an agent given is the one that runs
    plain = tune("keel:iris", budget_epochs=4, store=str(zoo_store), transfer=False, seed=4)
    assert "the transfer agent" not in plain.prior  # nothing to fine-tune: the usual agent
