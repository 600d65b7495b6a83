#!/usr/bin/env python3
"""Writes the question-answering dataset from the BIG-bench 1.0.0 sdist (fetched by
scripts/fetch-data.sh) and copies allennlp 0.9.0's SQuAD-format test fixtures.

Source: bigbench/benchmark_tasks/disfl_qa/task.json (Apache-2.0): 8,000 questions of Disfl-QA
(Gupta et al., 2021), SQuAD v2 paragraphs with disfluent questions. Each example's `input` is
the question, then "\\ncontext: ", then the paragraph; `target` is the answer text, or
"unknown" when the paragraph does not answer. Each row becomes SQuAD v2 JSONL:
{"id", "question", "context", "answers": {"text": [...], "answer_start": [...]}} with the
answer's character offset computed as its first occurrence in the paragraph that starts and
ends on a word boundary (else its first occurrence). The paragraphs are tokenized ("40 , 000")
where the targets often are not ("40,000"): when the exact text is absent, spaces may stand
between any two of its characters and the answer becomes the paragraph's text. Examples whose
answer is still not found, or whose question is empty, are dropped (counted). Split by paragraph, so that no paragraph is in two splits:
the paragraph's MD5 mod 10 == 0 -> test, == 1 -> dev, otherwise train; each split is shuffled
with random.Random(f"{split}-qa") so that the first N rows are a fair sample. Outputs, under
OUT (default data/):
  disfl-qa/{train,dev,test}.jsonl
  squad-fixtures/{squad.json,quoref_sample.json}   (with --allennlp WHEEL)
"""

import argparse
import hashlib
import json
import os
import random
import re
import zipfile


def find_answer(context, answer):
    """The answer's (start, text) in the paragraph, or None. The paragraphs have spaces around
    punctuation ("40 , 000") where the targets often do not ("40,000"): when the exact text is
    not there, spaces may appear between any two of its characters, and the answer becomes the
    paragraph's text."""
    exact = re.escape(answer)
    loose = r"\s*".join(r"\s+" if c.isspace() else re.escape(c) for c in answer)
    for pattern in (exact, loose):
        matches = list(re.finditer(pattern, context))
        for m in matches:
            s, e = m.start(), m.end()
            before = context[s - 1] if s > 0 else " "
            after = context[e] if e < len(context) else " "
            if not before.isalnum() and not after.isalnum():
                return s, m.group(0)
        if matches:
            return matches[0].start(), matches[0].group(0)
    return None


def disfl_qa(path):
    with open(path, encoding="utf-8") as f:
        task = json.load(f)
    rows, dropped = [], 0
    for i, example in enumerate(task["examples"]):
        question, sep, context = example["input"].partition("\ncontext: ")
        if not sep:
            dropped += 1
            continue
        question, context = question.strip(), context.strip()
        if not question or not context:
            dropped += 1
            continue
        target = example["target"].strip()
        if target == "unknown":
            answers = {"text": [], "answer_start": []}
        else:
            found = find_answer(context, target)
            if found is None:
                dropped += 1
                continue
            answers = {"text": [found[1]], "answer_start": [found[0]]}
        rows.append({"id": f"disfl_qa-{i}", "question": question, "context": context,
                     "answers": answers})
    return rows, dropped


def split_of(context):
    h = int(hashlib.md5(context.encode("utf-8")).hexdigest(), 16) % 10
    return {0: "test", 1: "dev"}.get(h, "train")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--disfl-qa", required=True, help="disfl_qa/task.json")
    parser.add_argument("--allennlp", help="the allennlp 0.9.0 wheel")
    parser.add_argument("--out", default="data")
    args = parser.parse_args()
    rows, dropped = disfl_qa(args.disfl_qa)
    splits = {"train": [], "dev": [], "test": []}
    for row in rows:
        splits[split_of(row["context"])].append(row)
    out = os.path.join(args.out, "disfl-qa")
    os.makedirs(out, exist_ok=True)
    for name, items in splits.items():
        random.Random(f"{name}-qa").shuffle(items)
        with open(os.path.join(out, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for row in items:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    unanswerable = sum(1 for r in rows if not r["answers"]["text"])
    print(f"disfl-qa: {len(rows)} questions ({unanswerable} unanswerable, {dropped} dropped): "
          + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    if args.allennlp:
        fixtures = os.path.join(args.out, "squad-fixtures")
        os.makedirs(fixtures, exist_ok=True)
        with zipfile.ZipFile(args.allennlp) as wheel:
            for member in ["allennlp/tests/fixtures/data/squad.json",
                           "allennlp/tests/fixtures/data/quoref/quoref_sample.json"]:
                with open(os.path.join(fixtures, os.path.basename(member)), "wb") as f:
                    f.write(wheel.read(member))


if __name__ == "__main__":
    main()
