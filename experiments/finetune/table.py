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
    ("disfl-qa", "extractive QA, Disfl-QA (SQuAD v2)", "exact_match"),
    ("disfl-qa", "extractive QA, Disfl-QA (SQuAD v2)", "f1"),
    ("lee-mlm", "masked LM, Lee news corpus", "perplexity"),
    ("lee-mlm", "masked LM, Lee news corpus", "accuracy"),
    ("disfl-qa-v1", "extractive QA, Disfl-QA answerable questions (SQuAD v1 style)", "exact_match"),
    ("disfl-qa-v1", "extractive QA, Disfl-QA answerable questions (SQuAD v1 style)", "f1"),
    ("lee-nsp", "next sentence, Lee news pairs", "accuracy"),
    ("lee-pretraining", "pre-training from scratch, Lee news corpus", "mlm_accuracy"),
    ("lee-pretraining", "pre-training from scratch, Lee news corpus", "nsp_accuracy"),
    ("lee-choice", "multiple choice, next sentence among 3 (Lee news)", "accuracy"),
    ("ner-qa", "extractive QA, tweet entities (SQuAD v2)", "exact_match"),
    ("ner-qa", "extractive QA, tweet entities (SQuAD v2)", "f1"),
]


def runs(folder, name):
    """(ours, theirs) of every run of a task: TASK-{bert,hf}.json and TASK-sN-{bert,hf}.json."""
    found = []
    for file in sorted(os.listdir(folder)):
        stem = file[: -len("-bert.json")] if file.endswith("-bert.json") else None
        if stem is None or not (stem == name or stem.startswith(f"{name}-s")):
            continue
        other = os.path.join(folder, f"{stem}-hf.json")
        if os.path.exists(other):
            found.append(tuple(json.load(open(p)) for p in (os.path.join(folder, file), other)))
    return found


def main():
    folder = sys.argv[1]
    print("| task | metric | bert-train | Trainer | difference (points; perplexity: relative) "
          "| bert-train train time | Trainer train time | bert-train seq/s | Trainer seq/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, title, metric in ROWS:
        pairs = runs(folder, name)
        label = "entity F1" if name == "ner" else metric
        for ours, theirs in pairs:
            a, b = ours["metrics"][metric], theirs["metrics"][metric]
            # Perplexity is not in [0, 1]: its difference is relative.
            diff = f"{100 * (a / b - 1):+.1f}%" if metric == "perplexity" else f"{100 * (a - b):+.2f}"
            seed = next((o.split("=")[1] for o in ours["overrides"] if "seed=" in o), "42")
            row_title = f"{title}, seed {seed}" if len(pairs) > 1 else title
            print(
                f"| {row_title} | {label} | {a:.4f} | {b:.4f} | {diff} "
                f"| {ours['train_seconds']:.0f} s | {theirs['train_seconds']:.0f} s "
                f"| {ours['train_rows_per_second']:.1f} | {theirs['train_rows_per_second']:.1f} |"
            )
        if len(pairs) > 1:
            ours = [o["metrics"][metric] for o, _ in pairs]
            theirs = [t["metrics"][metric] for _, t in pairs]
            mean = lambda v: sum(v) / len(v)
            spread = lambda v: max(v) - min(v)
            a, b = mean(ours), mean(theirs)
            mean_diff = f"{100 * (a / b - 1):+.1f}%" if metric == "perplexity" else f"{100 * (a - b):+.2f}"
            print(
                f"| {title}, mean of {len(pairs)} seeds (spread) | {label} "
                f"| {mean(ours):.4f} ({spread(ours):.4f}) | {mean(theirs):.4f} ({spread(theirs):.4f}) "
                f"| {mean_diff} | | | | |"
            )


if __name__ == "__main__":
    main()
