"""Prints the comparison table of experiments/finetune from the results JSON files run.sh wrote.

    python3 table.py experiments/finetune/results
"""

import json
import os
import sys

ROWS = [
    ("sentiment", "binary sentiment, movie sentences", "accuracy"),
    ("regression", "sentiment score regression", "pearson"),
    ("ner", "tweet NER", "f1"),
    ("social-iqa", "multiple choice, Social IQa (3 answers)", "accuracy"),
]


def main():
    folder = sys.argv[1]
    print("| task | metric | bert-train | Trainer | difference (points) "
          "| bert-train train time | Trainer train time | bert-train seq/s | Trainer seq/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, title, metric in ROWS:
        paths = [os.path.join(folder, f"{name}-{side}.json") for side in ("bert", "hf")]
        if not all(os.path.exists(p) for p in paths):
            continue
        ours, theirs = (json.load(open(p)) for p in paths)
        a, b = ours["metrics"][metric], theirs["metrics"][metric]
        label = "entity F1" if name == "ner" else metric
        print(
            f"| {title} | {label} | {a:.4f} | {b:.4f} | {100 * (a - b):+.2f} "
            f"| {ours['train_seconds']:.0f} s | {theirs['train_seconds']:.0f} s "
            f"| {ours['train_rows_per_second']:.1f} | {theirs['train_rows_per_second']:.1f} |"
        )


if __name__ == "__main__":
    main()
