"""Average the weights of freeze-thaw agents trained on from one agent (a uniform model soup).

    python experiments/weight_soup.py runs/soup4 runs/ft-v7 runs/ft-v8 runs/ft-v9-fw1 runs/ft-v9-fw3
    python experiments/select_agent.py runs/soup4 --seeds 10
    TUNEGYM_FREEZE_THAW_DIR=runs/soup4 tunegym bench --suite lcbench --peer agent --out runs/b

Fine-tuned copies of one network often lie in one basin of the loss, where the mean of their
weights scores better than each of them on held-out data (Wortsman et al., 2022, "Model
soups"). The agents must share their architecture (``n_k``, ``hidden``, meta-features, k
choices); the soup keeps the first one's ``agent.json`` (its ``n``, warm start and stop gate)
and records the ingredients' folders and checksums under ``"soup"``. It is a candidate like any
trained agent: choose it on meta-val (``select_agent.py``), never on meta-test.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tunegym.agent._ftagent import load_ft_agent

_SAME = ("n_k", "hidden", "use_meta", "k_choices")


def soup(out: Path, folders: list[Path]) -> Path:
    """Write the uniform weight average of the agents in ``folders`` to ``out``; ``out``.

    Raises:
        ValueError: fewer than two agents, agents of different architectures, or one with a
            learned stop gate.
    """
    if len(folders) < 2:
        raise ValueError(f"A soup needs at least two agents, got {len(folders)}.")
    agents = [load_ft_agent(folder) for folder in folders]
    for folder, agent in zip(folders, agents, strict=True):
        if agent.learned_stop:
            raise ValueError(
                f"{folder} has a learned stop gate, which reads the encoder a soup would change: "
                "average agents without one, then learn the gate on the soup "
                "(`tunegym train-agent --learn-stop --init SOUP`)."
            )
    first = agents[0]
    for folder, agent in zip(folders[1:], agents[1:], strict=True):
        differ = [k for k in _SAME if agent.spec.get(k) != first.spec.get(k)]
        if differ:
            raise ValueError(
                f"{folder} differs from {folders[0]} in {', '.join(differ)}: only agents of one "
                "architecture (trained on from one agent) can be averaged."
            )
    states = [agent.net.state_dict() for agent in agents]
    first.net.load_state_dict({key: sum(s[key] for s in states) / len(states) for key in states[0]})
    first.spec = {
        **{k: v for k, v in first.spec.items() if k != "weights_sha256"},
        "soup": [
            {"agent": str(f), "weights_sha256": a.spec.get("weights_sha256")}
            for f, a in zip(folders, agents, strict=True)
        ],
    }
    return first.save(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the soup to")
    parser.add_argument("agents", nargs="+", type=Path, help="agent folders to average")
    args = parser.parse_args()
    try:
        print(soup(args.out, args.agents))
    except ValueError as error:
        parser.error(str(error))


if __name__ == "__main__":
    main()
