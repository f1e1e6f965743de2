"""Fine-tuning against scratch on held-out family targets, at equal cost (issue 16).

    python experiments/finetune_benchmark.py                 # meta-test targets, 30 seeds
    python experiments/finetune_benchmark.py --part meta-val --seeds 10
    python experiments/finetune_benchmark.py --part meta-train     # leave-family-out warm start

Reads the meta-dataset of fine-tuning (``tunegym/metastore/snapshot_finetune``,
``experiments/collect_finetune.py``): per target, 16 scratch and 16 fine-tuning candidates with
their curves. Two measurements, both on seed-mean curves (protocol v2's truth):

* **Candidates** (no tuner): the best fine-tuning candidate against the best scratch one —
  score after one epoch, epochs to reach scratch's best final score, final score.
* **The agent**, greedy, with the same budget: on the scratch candidates alone (``scratch``,
  the shipped freeze-thaw agent, what a run without a pre-trained model gets) and on all of
  them (``transfer``: the transfer agent where one is installed, which `tunegym.tune` then
  runs when it may fine-tune, else the freeze-thaw agent; ``--transfer-agent`` names another,
  e.g. one trained by ``experiments/train_freeze_thaw.py --transfer``), each
  warm-started from the meta-train targets (greedy portfolio first, prior of every candidate):
  score after one epoch,
  epochs to reach scratch's final score, area under the regret curve, final test score, and
  whether transfer hurt: strictly (a seed-mean final regret above scratch's by any amount) and
  beyond seed noise (`tunegym.bench.paired_worse`: a paired bootstrap over seeds, one-sided
  95 %).
* **The transfer check** (`tunegym.envs.TransferCheck`, as `tune` runs it): the transfer arm
  adds the fine-tuning candidates only where a linear probe on the source's features scores
  higher on validation than one on the raw inputs (``transfer_checks.csv`` in the snapshot);
  elsewhere it is the scratch arm. ``--no-gate`` adds them everywhere.
* **The noise floor**: the scratch arm again on fresh seeds (``scratch-again``), read against
  the scratch arm as transfer is. A tuner is strictly worse than itself on many targets (only
  ties keep the share below one half); beyond seed noise on about 5 %.

Regret is normalised on every candidate of the target (both kinds). Writes
``<out>/finetune_results.csv`` (one row per target, budget, arm and seed),
``<out>/finetune_summary.md`` (the tables, with this command) and ``<out>/finetune.png``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tunegym.agent._ftagent import (
    DEFAULT_FT_AGENT_DIR,
    DEFAULT_TRANSFER_AGENT_DIR,
    FreezeThawAgent,
    load_ft_agent,
)
from tunegym.bench import paired_worse
from tunegym.envs import (
    FINETUNE_SNAPSHOT_DIR,
    CurvePool,
    FreezeThawEnv,
    PoolBackend,
    finetune_checks,
    finetune_kinds,
    finetune_pools,
    finetune_prior,
    snapshot_meta_features,
)
from tunegym.envs._pool import nested_portfolio, normalised_areas, normalised_finals
from tunegym.space import FINE_TUNE, FINE_TUNE_SPACE

ARMS = ("scratch", "transfer")
AGAIN = "scratch-again"  # the scratch arm on fresh seeds: the noise floor of "no worse"
PORTFOLIOS = ("final", "area")


@dataclass
class Args:
    snapshot: Path = FINETUNE_SNAPSHOT_DIR
    part: str = "meta-test"
    budgets: tuple[int, ...] = (50, 100)
    seeds: int = 30
    agent: Path = DEFAULT_FT_AGENT_DIR
    transfer_agent: Path = (
        DEFAULT_TRANSFER_AGENT_DIR
        if (DEFAULT_TRANSFER_AGENT_DIR / "agent.json").is_file()
        else DEFAULT_FT_AGENT_DIR
    )
    out: Path = Path("docs/transfer")
    portfolio: str = "final"
    gate: bool = True


def first_epoch_share(pool: CurvePool, kind: int) -> float:
    """How much longer a first epoch takes than a later one, in later epochs: the median over
    the candidates of ``kind`` and seeds of ``seconds[epoch 1] / median(seconds[epochs 2..]) - 1``.
    """
    seconds = pool.seconds[finetune_kinds(pool.configs) == kind]
    later = np.median(seconds[:, :, 1:], axis=2)
    return float(np.median(seconds[:, :, 0] / np.maximum(later, 1e-9)) - 1.0)


def probe_share(pool: CurvePool) -> float:
    """The head's probe (`tunegym.training.probe_head`, charged to a fine-tuning trial's first
    epoch), in epochs: the first epoch's extra share for fine-tuning minus scratch's (a first
    epoch's own warm-up), at least 0."""
    return max(first_epoch_share(pool, 1) - first_epoch_share(pool, 0), 0.0)


def candidate_rows(pool: CurvePool) -> dict[str, float]:
    """The best fine-tuning candidate against the best scratch one, on seed-mean curves."""
    truth, kinds = pool.truth, finetune_kinds(pool.configs)
    scratch, fine = truth[kinds == 0], truth[kinds == 1]
    best_scratch = scratch[:, -1].max()
    best_fine = fine[np.argmax(fine[:, -1])]
    top_scratch = scratch[np.argmax(scratch[:, -1])]
    reach_fine = np.flatnonzero(fine.max(axis=0) >= best_scratch - 1e-12)
    reach_scratch = int(np.argmax(top_scratch >= top_scratch.max() - 1e-12)) + 1
    return {
        "scratch_epoch1": float(scratch[:, 0].max()),
        "finetune_epoch1": float(fine[:, 0].max()),
        "scratch_final": float(best_scratch),
        "finetune_final": float(best_fine[-1]),
        "scratch_epochs_to_best": reach_scratch,
        "finetune_epochs_to_scratch_best": int(reach_fine[0]) + 1 if reach_fine.size else np.nan,
        "probe_epochs": probe_share(pool),
    }


def _warm_start(
    train: list[CurvePool], configs: list[dict], kinds: tuple[int, ...], portfolio: str
) -> tuple[list[int], int, np.ndarray]:
    """Candidates (indices of ``configs`` of the given kinds), the meta-train targets'
    portfolio first (`nested_portfolio`, as `tune`'s: on final scores, or on areas under the
    curves), the portfolio's size, and their prior."""
    keys = [FINE_TUNE_SPACE.key(c) for c in configs]  # one of configurations equal up to noise
    keep = [i for i, c in enumerate(configs)
            if int(c.get(FINE_TUNE, 0)) in kinds and keys.index(keys[i]) == i]  # fmt: skip
    score = normalised_areas if portfolio == "area" else normalised_finals
    kept_kinds = finetune_kinds([configs[i] for i in keep])
    order = [keep[j] for j in nested_portfolio(score(train)[:, keep], kept_kinds, 8)]
    size = len(order)
    order += [i for i in keep if i not in order]
    return order, size, finetune_prior(train, [configs[i] for i in order])


def episode(
    agent: FreezeThawAgent, pool: CurvePool, order: list[int], size: int, prior: np.ndarray,
    meta: np.ndarray | None, budget: int, seed: int,
) -> dict[str, float | list[float]]:  # fmt: skip
    """One agent episode on ``pool``'s candidates ``order`` (the first ``size`` its portfolio);
    its regret curve and final test."""
    backend = PoolBackend(pool, meta)
    env = FreezeThawEnv(
        pool.space, [pool.configs[i] for i in order], backend, budget=budget,
        max_epochs=pool.max_epochs, prior=prior, k_choices=agent.k_choices,
        trial_seeds=tuple(range(pool.n_seeds)), portfolio=range(size),
    )  # fmt: skip
    obs, info = env.reset(seed=seed)
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(agent.act(obs, env.action_masks()))
        done = terminated or truncated
    regret = env.regret_curve
    curve = np.full(budget, regret[-1] if len(regret) else 1.0)
    curve[: len(regret)] = regret
    inc = info["incumbent"]
    test = np.nan
    if inc is not None:
        i = backend.index(inc["config"])
        test = float(pool.test[i, :, inc["epoch"] - 1].mean())
    best, worst = pool.bounds
    return {
        "regret": curve.tolist(),
        "val": (best - curve * (best - worst)).tolist(),
        "final_test": test,
        "finetuned": bool(inc is not None and inc["config"].get(FINE_TUNE, 0) == 1),
    }


def run(args: Args) -> pd.DataFrame:
    agents = {"scratch": load_ft_agent(args.agent), "transfer": load_ft_agent(args.transfer_agent)}
    train = finetune_pools(args.snapshot, part="meta-train")
    tasks = finetune_pools(args.snapshot, part=args.part)
    metas = snapshot_meta_features()
    checks = finetune_checks(args.snapshot) if args.gate else {}
    rows = []
    for pool in tasks:
        configs = list(pool.configs)
        # a meta-train target is warm-started from the other families' targets only
        own = args.part == "meta-train"
        seen = [p for p in train if p.family != pool.family] if own else train
        arms = {"scratch": _warm_start(seen, configs, (0,), args.portfolio)}
        added = not args.gate or checks[pool.task].pays
        arms["transfer"] = (
            _warm_start(seen, configs, (0, 1), args.portfolio) if added else arms["scratch"]
        )
        for budget in args.budgets:
            for arm, (order, size, prior) in arms.items():
                agent = agents[arm if added else "scratch"]  # no source: tune's agent
                use_meta = bool(agent.spec.get("use_meta", True))
                meta = metas.get(pool.task) if use_meta else None  # None: zeros
                again = range(args.seeds, 2 * args.seeds) if arm == "scratch" else range(0)
                for seed in [*range(args.seeds), *again]:
                    out = episode(agent, pool, order, size, prior, meta, budget, seed)
                    rows.append({"task": pool.task, "family": pool.family, "budget": budget,
                                 "arm": AGAIN if seed >= args.seeds else arm,
                                 "seed": seed % args.seeds, "finetune_added": added,
                                 **out})  # fmt: skip
        print(f"{pool.task}: done", flush=True)
    return pd.DataFrame(rows)


def validation_rows(pools: dict[str, CurvePool]) -> dict[str, int]:
    """Rows in each target's validation part, as the collection split it (seed 0; at most
    1,000 rows): how coarse its validation scores are."""
    from tunegym.data import load_dataset

    return {task: len(load_dataset(task, max_rows=1000, seed=0, split="rows").y_val)
            for task in pools}  # fmt: skip


def summarise(
    results: pd.DataFrame, pools: dict[str, CurvePool], val_rows: dict[str, int] | None = None
) -> tuple[pd.DataFrame, str]:
    """Per (target, budget): the measures of both arms; and the summary tables as markdown.

    ``val_rows``: each target's validation rows (`validation_rows`); with them, a hurt target
    also says whether the seed-mean validation accuracy it lost is a whole row or more."""
    out = []
    for (task, budget), group in results.groupby(["task", "budget"]):
        mean = {arm: np.mean(np.stack(g["val"].to_list()), axis=0)
                for arm, g in group.groupby("arm")}  # fmt: skip
        regret = {arm: np.mean(np.stack(g["regret"].to_list()), axis=0)
                  for arm, g in group.groupby("arm")}  # fmt: skip
        target = mean["scratch"][-1]
        reach = {arm: np.flatnonzero(mean[arm] >= target - 1e-12) for arm in ARMS}
        row = {"task": task, "family": pools[task].family, "budget": int(budget),
               "finetune_added": bool(group["finetune_added"].all())}  # fmt: skip
        for arm in ARMS:
            g = group[group["arm"] == arm]
            row[f"{arm}_epoch1"] = float(mean[arm][0])
            row[f"{arm}_epochs_to_scratch_final"] = (
                int(reach[arm][0]) + 1 if reach[arm].size else np.nan
            )
            row[f"{arm}_area"] = float(regret[arm].mean())
            row[f"{arm}_final_regret"] = float(regret[arm][-1])
            row[f"{arm}_final_test"] = float(g["final_test"].mean())
            row[f"{arm}_finetuned"] = float(g["finetuned"].mean())
        row["speedup"] = (
            row["scratch_epochs_to_scratch_final"] / row["transfer_epochs_to_scratch_final"]
        )
        row["hurt"] = row["transfer_final_regret"] > row["scratch_final_regret"] + 1e-9
        row["hurt_test"] = row["transfer_final_test"] < row["scratch_final_test"] - 1e-9
        final = {arm: np.array([r[-1] for r in g.sort_values("seed")["regret"]])
                 for arm, g in group.groupby("arm")}  # fmt: skip
        row["worse_beyond_noise"] = paired_worse(final["transfer"], final["scratch"])[2]
        if AGAIN in final:
            row["again_hurt"] = final[AGAIN].mean() > final["scratch"].mean() + 1e-9
            row["again_worse_beyond_noise"] = paired_worse(final[AGAIN], final["scratch"])[2]
        best, worst = pools[task].bounds
        lost = (row["transfer_final_regret"] - row["scratch_final_regret"]) * (best - worst)
        row["lost_val_rows"] = lost * val_rows[task] if val_rows else np.nan
        out.append(row)
    table = pd.DataFrame(out)
    cand = pd.DataFrame([{"task": t, **candidate_rows(p)} for t, p in pools.items()])
    lines = ["## Candidates (no tuner): best fine-tuning vs best scratch, seed-mean curves", ""]
    # a target where fine-tuning never reaches scratch's best counts as no speed-up (0x)
    reach = cand["finetune_epochs_to_scratch_best"]
    speed = (cand["scratch_epochs_to_best"] / reach).fillna(0.0)
    charged = (cand["scratch_epochs_to_best"] / (reach + cand["probe_epochs"])).fillna(0.0)
    lines += [
        "| targets | epoch-1 score scratch | fine-tune | final scratch | fine-tune | "
        "median epochs-to-scratch-best ratio | probe charged | targets ≥ 2x | fine-tune never "
        "reaches | fine-tune final worse |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {len(cand)} | {cand['scratch_epoch1'].mean():.3f} | "
        f"{cand['finetune_epoch1'].mean():.3f} | {cand['scratch_final'].mean():.3f} | "
        f"{cand['finetune_final'].mean():.3f} | {np.median(speed):.1f}x | "
        f"{np.median(charged):.1f}x | {int((speed >= 2).sum())}/{len(cand)} | "
        f"{int(reach.isna().sum())} | "
        f"{int((cand['finetune_final'] < cand['scratch_final'] - 1e-12).sum())} |",
        "",
        f"The probe of a new head (`tunegym.training.probe_head`) is charged to a fine-tuning "
        f"trial's first epoch; measured from the curves' seconds it costs a median "
        f"{cand['probe_epochs'].median():.2f} epochs (per target: "
        f"{cand['probe_epochs'].min():.2f} to {cand['probe_epochs'].max():.2f}). "
        '"probe charged" adds it to fine-tuning\'s epochs.',
        "",
        "## The agent: scratch candidates vs scratch + fine-tuning candidates, same budget",
        "",
        "| budget | fine-tuning added (the transfer check) | epoch-1 val scratch | transfer | "
        "median speed-up to scratch's "
        "final | targets ≥ 2x | area scratch | transfer | final regret scratch | transfer | "
        "final test scratch | transfer | transfer no worse (validation regret) | worse beyond "
        "seed noise | no worse (test score) | worse by a validation row or more | incumbent "
        "fine-tuned |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for budget, g in table.groupby("budget"):
        lines.append(
            f"| {budget} | {int(g['finetune_added'].sum())}/{len(g)} | "
            f"{g['scratch_epoch1'].mean():.3f} | "
            f"{g['transfer_epoch1'].mean():.3f} | {np.nanmedian(g['speedup']):.1f}x | "
            f"{int((g['speedup'] >= 2).sum())}/{len(g)} | {g['scratch_area'].mean():.4f} | "
            f"{g['transfer_area'].mean():.4f} | {g['scratch_final_regret'].mean():.4f} | "
            f"{g['transfer_final_regret'].mean():.4f} | {g['scratch_final_test'].mean():.4f} | "
            f"{g['transfer_final_test'].mean():.4f} | "
            f"{int((~g['hurt']).sum())}/{len(g)} ({100 * (~g['hurt']).mean():.0f} %) | "
            f"{int(g['worse_beyond_noise'].sum())}/{len(g)} | "
            f"{int((~g['hurt_test']).sum())}/{len(g)} ({100 * (~g['hurt_test']).mean():.0f} %) | "
            f"{int((g['lost_val_rows'] >= 1 - 1e-9).sum())}/{len(g)} | "
            f"{100 * g['transfer_finetuned'].mean():.0f} % |"
        )
    lines += [
        "",
        '"No worse" is strict: a seed-mean final regret not above scratch\'s by any amount. The '
        "validation parts are small (KEEL targets, tens of rows), so the column 'worse by a "
        "validation row or more' counts the targets where transfer lost, on the seed-mean, at "
        "least one validation row's worth of accuracy. 'Worse beyond seed noise' "
        "(`tunegym.bench.paired_worse`) counts the targets where the paired bootstrap over "
        "seeds puts transfer's excess final regret above 0 at one-sided 95 %.",
    ]
    if "again_hurt" in table:
        lines += [
            "",
            "## The noise floor: the scratch arm against itself on fresh seeds",
            "",
            "The scratch arm's agent and candidates again, on seeds it did not run, read against "
            "the scratch arm as the transfer arm is. An identical tuner should be no worse on "
            "every target; the shares below are what seed noise alone takes.",
            "",
            "| budget | targets | no worse (validation regret, strict) | worse beyond seed noise |",
            "|---|---|---|---|",
        ]
        for budget, g in table.groupby("budget"):
            hurt = g["again_hurt"].astype(bool)
            lines.append(
                f"| {budget} | {len(g)} | {int((~hurt).sum())}/{len(g)} "
                f"({100 * (~hurt).mean():.0f} %) | "
                f"{int(g['again_worse_beyond_noise'].sum())}/{len(g)} |"
            )
    pays = dict(
        zip(cand["task"], cand["finetune_final"] >= cand["scratch_final"] - 1e-12, strict=True)
    )
    lines += [
        "",
        "## When fine-tuning pays: the transfer arm's incumbent by kind of target",
        "",
        "A target where fine-tuning pays is one whose best fine-tuning candidate ends at least as "
        "high as its best scratch one (seed-mean final scores).",
        "",
        "| budget | fine-tuning pays: targets | fine-tuning added | incumbent fine-tuned | no "
        "worse | scratch better: targets | fine-tuning added | incumbent fine-tuned | no worse |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for budget, g in table.groupby("budget"):
        cells = [f"| {budget} "]
        for side in (True, False):
            h = g[g["task"].map(pays) == side]
            share = 100 * h["transfer_finetuned"].mean() if len(h) else float("nan")
            cells.append(f"| {len(h)} | {int(h['finetune_added'].sum())}/{len(h)} | "
                         f"{share:.0f} % | {int((~h['hurt']).sum())}/{len(h)} ")  # fmt: skip
        lines.append("".join(cells) + "|")
    return table, "\n".join(lines)


def plot(results: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = sorted(results["budget"].unique())
    fig, axes = plt.subplots(1, len(budgets), figsize=(5 * len(budgets), 3.6), squeeze=False)
    for ax, budget in zip(axes[0], budgets, strict=True):
        for arm in ARMS:
            g = results[(results["budget"] == budget) & (results["arm"] == arm)]
            per_task = g.groupby("task")["regret"].apply(lambda s: np.mean(np.stack(s), 0))
            curve = np.mean(np.stack(per_task.to_list()), axis=0)
            ax.plot(np.arange(1, budget + 1), curve, label=arm)
        ax.set_yscale("log")
        ax.set_xlabel("epochs spent")
        ax.set_ylabel("mean normalised regret")
        ax.set_title(f"budget {budget} epochs")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _name(folder: Path) -> str:
    """An agent folder as the docs name it (inside the repo: its relative path)."""
    try:
        return str(folder.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = Args()
    parser.add_argument("--snapshot", type=Path, default=defaults.snapshot)
    parser.add_argument("--part", default=defaults.part)
    parser.add_argument("--budget", type=int, action="append", help="default 50 and 100")
    parser.add_argument("--seeds", type=int, default=defaults.seeds)
    parser.add_argument(
        "--agent",
        type=Path,
        default=defaults.agent,
        help="the scratch arm's agent (default: the shipped freeze-thaw agent)",
    )
    parser.add_argument(
        "--transfer-agent",
        type=Path,
        default=defaults.transfer_agent,
        help="the transfer arm's agent (default: a transfer agent where one is installed, "
        "else the freeze-thaw agent)",
    )
    parser.add_argument("--out", type=Path, default=defaults.out)
    parser.add_argument(
        "--no-gate", dest="gate", action="store_false",
        help="add the fine-tuning candidates on every target (default: only where the "
        "transfer check says the source's features help, as tune does)",
    )  # fmt: skip
    parser.add_argument(
        "--portfolio", choices=PORTFOLIOS, default=defaults.portfolio,
        help="the warm start's greedy portfolio maximises the meta-train targets' normalised "
        "final scores (tune's) or areas under their curves (which favours fast starters)",
    )  # fmt: skip
    ns = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # a tiny policy network: more threads only wait on each other
    args = Args(ns.snapshot, ns.part, tuple(ns.budget or defaults.budgets), ns.seeds, ns.agent,
                ns.transfer_agent, ns.out, ns.portfolio, ns.gate)  # fmt: skip
    results = run(args)
    pools = {p.task: p for p in finetune_pools(args.snapshot, part=args.part)}
    table, text = summarise(results, pools, validation_rows(pools))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "finetune" if args.part == "meta-test" else f"finetune_{args.part}"
    stem += "" if args.portfolio == "final" else f"_{args.portfolio}"
    stem += "" if args.gate else "_ungated"
    flat = results.drop(columns=["regret", "val"]).assign(
        final_regret=[r[-1] for r in results["regret"]],
        area=[float(np.mean(r)) for r in results["regret"]],
    )
    flat.to_csv(args.out / f"{stem}_results.csv", index=False)
    table.to_csv(args.out / f"{stem}_targets.csv", index=False)
    command = "python " + " ".join(sys.argv)
    gate = "the transfer check" if args.gate else "no transfer check"
    header = (f"# Fine-tuning vs scratch ({args.part}, {args.seeds} seeds, portfolio on "
              f"{args.portfolio} scores, {gate})\n\n`{command}`\n\nAgents: scratch arm "
              f"`{_name(args.agent)}`, transfer arm `{_name(args.transfer_agent)}`.\n\n")  # fmt: skip
    (args.out / f"{stem}_summary.md").write_text(header + text + "\n", encoding="utf-8")
    plot(results, args.out / f"{stem}.png")
    print(header + text)


if __name__ == "__main__":
    main()
