"""Runs the digits matrix (aggregation rules x Byzantine attacks) through a real `tributary serve`
and 20 client processes; prints the final test accuracy as a markdown table and writes
accuracy.csv (every round) and accuracy.png (one panel per attack) into --out.

    examples/digits/run --rounds 30                       # the SDK from build/examples-venv
    examples/digits/run --rules fedavg,median --attacks none,signflip --rounds 10
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
import federated_digits as fd  # noqa: E402


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    defaults = fd.TrainConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rounds", type=int, default=30, help="rounds per job")
    p.add_argument("--rules", default=",".join(fd.RULES), help="comma-separated rule names")
    p.add_argument("--attacks", default=",".join(fd.ATTACKS), help="comma-separated attacks")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "out"),
                   help="output directory")
    p.add_argument("--binary", default=fd.default_binary(),
                   help="tributary binary (default: $TRIBUTARY_BINARY or build/cli/tributary)")
    p.add_argument("--seed", type=int, default=defaults.seed,
                   help="data split, initial model and minibatch order")
    p.add_argument("--local-epochs", type=int, default=defaults.local_epochs)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr, help="client SGD step")
    p.add_argument("--server-lr", type=float, default=defaults.server_lr,
                   help="the round publishes previous + server-lr * aggregate")
    p.add_argument("--signflip-k", type=float, default=defaults.signflip_k,
                   help="signflip pushes -k * mean honest delta")
    p.add_argument("--gaussian-sigma", type=float, default=defaults.gaussian_sigma,
                   help="gaussian pushes N(0, sigma^2) per coordinate")
    p.add_argument("--ipm-epsilon", type=float, default=defaults.ipm_epsilon,
                   help="ipm pushes -epsilon * mean honest delta")
    args = p.parse_args(argv)
    for name, known in (("rules", fd.RULES), ("attacks", fd.ATTACKS)):
        values = getattr(args, name).split(",")
        if name == "attacks" and any(v not in known for v in values):
            p.error(f"--attacks: unknown attack in {values} (known: {', '.join(known)})")
        setattr(args, name, values)  # rules: any server rule name goes; the server checks
    return args


def markdown_table(results: List[fd.JobResult], rules: Sequence[str],
                   attacks: Sequence[str]) -> str:
    final: Dict[tuple, float] = {(r.rule, r.attack): r.accuracy[-1] for r in results}
    lines = ["| rule | " + " | ".join(attacks) + " |",
             "|---|" + "---:|" * len(attacks)]
    for rule in rules:
        cells = [f"{final[rule, a]:.3f}" if (rule, a) in final else "-" for a in attacks]
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(results: List[fd.JobResult], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rule", "attack", "round", "accuracy"])
        for r in results:
            for round_, acc in enumerate(r.accuracy):
                w.writerow([r.rule, r.attack, round_, f"{acc:.4f}"])


def write_png(results: List[fd.JobResult], rules: Sequence[str], attacks: Sequence[str],
              title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(attacks), figsize=(3.2 * len(attacks), 3.4), sharey=True,
                             squeeze=False)
    by_key = {(r.rule, r.attack): r.accuracy for r in results}
    for ax, attack in zip(axes[0], attacks):
        for rule in rules:
            if (rule, attack) in by_key:
                ax.plot(by_key[rule, attack], label=rule, linewidth=1.4)
        ax.set_title(f"attack: {attack}")
        ax.set_xlabel("round")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy")
    axes[0][-1].legend(loc="lower right", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    cfg = fd.TrainConfig(seed=args.seed, local_epochs=args.local_epochs,
                         batch_size=args.batch_size, lr=args.lr, server_lr=args.server_lr,
                         signflip_k=args.signflip_k, gaussian_sigma=args.gaussian_sigma,
                         ipm_epsilon=args.ipm_epsilon)
    settings = (f"R={args.rounds}, n={fd.NUM_CLIENTS}, f={len(fd.BYZANTINE)}, "
                + ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(cfg).items()))
    print(f"digits matrix: {len(args.rules)} rules x {len(args.attacks)} attacks; {settings}",
          flush=True)
    start = time.monotonic()

    def progress(r: fd.JobResult) -> None:
        print(f"  {r.rule:>12} / {r.attack:<9} final accuracy {r.accuracy[-1]:.3f} "
              f"(best {max(r.accuracy):.3f}, {r.seconds:.1f}s)", flush=True)

    try:
        results = fd.run_matrix(args.rules, args.attacks, args.rounds, cfg, args.binary,
                                progress)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(results, out / "accuracy.csv")
    write_png(results, args.rules, args.attacks, f"digits, {settings}", out / "accuracy.png")
    print(f"\nFinal test accuracy after {args.rounds} rounds ({settings}):\n")
    print(markdown_table(results, args.rules, args.attacks))
    print(f"\n{len(results)} jobs in {time.monotonic() - start:.0f}s; wrote "
          f"{out / 'accuracy.csv'} and {out / 'accuracy.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
