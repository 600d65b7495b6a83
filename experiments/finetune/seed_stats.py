"""Means, spreads and paired differences over seeds, from run.sh's results.

    python3 seed_stats.py RESULTS_DIR TASK METRIC [METRIC ...] [--seeds 1 2 ...] [--ours DIR]
        [--against DIR]

For each metric: bert-train's and Trainer's mean and standard deviation over the seeds that have
both TASK-sN-bert.json and TASK-sN-hf.json, the mean difference (points) with its standard error
(paired by seed), the median difference, and how many of each side's runs are below 0.70.
`--ours DIR` reads bert-train's TASK-sN-bert.json from DIR instead (an archived series).
`--against DIR` also pairs bert-train's runs with a folder of sN-bert-eval.json files (a replay
series, e.g. results/ner-qa-replay-dropout) and prints the largest per-seed gap.
"""
import argparse
import json
import os
import statistics


def load(path):
    with open(path) as f:
        data = json.load(f)
    return data.get("metrics", data)


def spread(values):
    """Sample standard deviation, NaN for fewer than two values."""
    return statistics.stdev(values) if len(values) > 1 else float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("task")
    parser.add_argument("metrics", nargs="+")
    parser.add_argument("--seeds", nargs="*", type=int)
    parser.add_argument("--ours")
    parser.add_argument("--against")
    args = parser.parse_args()
    ours_folder = args.ours or args.folder
    seeds = args.seeds or sorted(
        int(f[len(args.task) + 2 : -len("-bert.json")])
        for f in os.listdir(ours_folder)
        if f.startswith(f"{args.task}-s") and f.endswith("-bert.json")
        and f[len(args.task) + 2 : -len("-bert.json")].isdigit()
    )
    pairs = {}
    for seed in seeds:
        ours = os.path.join(ours_folder, f"{args.task}-s{seed}-bert.json")
        theirs = os.path.join(args.folder, f"{args.task}-s{seed}-hf.json")
        if os.path.exists(ours) and os.path.exists(theirs):
            pairs[seed] = (load(ours), load(theirs))
    print(f"{args.task}: {len(pairs)} seeds: {sorted(pairs)}")
    for metric in args.metrics:
        ours = [pairs[s][0][metric] for s in sorted(pairs)]
        theirs = [pairs[s][1][metric] for s in sorted(pairs)]
        diffs = [100 * (a - b) for a, b in zip(ours, theirs)]
        se = spread(diffs) / len(diffs) ** 0.5
        print(
            f"  {metric}: bert-train {statistics.mean(ours):.4f} (sd {spread(ours):.4f}), "
            f"Trainer {statistics.mean(theirs):.4f} (sd {spread(theirs):.4f}); "
            f"difference {statistics.mean(diffs):+.2f} points (SE {se:.2f}, "
            f"median {statistics.median(diffs):+.2f}); below 0.70: "
            f"{sum(v < 0.70 for v in ours)} / {sum(v < 0.70 for v in theirs)}"
        )
        if args.against:
            replay = {}
            for seed in sorted(pairs):
                path = os.path.join(args.against, f"s{seed}-bert-eval.json")
                if os.path.exists(path):
                    replay[seed] = load(path)[metric]
            if replay:
                gaps = [100 * (pairs[s][0][metric] - replay[s]) for s in replay]
                print(
                    f"    against {args.against} ({len(replay)} seeds): mean "
                    f"{statistics.mean(gaps):+.2f} points, largest |gap| "
                    f"{max(abs(g) for g in gaps):.2f}"
                )


if __name__ == "__main__":
    main()
