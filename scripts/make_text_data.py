#!/usr/bin/env python3
"""Writes the raw-text dataset for masked-LM and pre-training from the gensim 4.3.3 wheel
(fetched by scripts/fetch-data.sh): gensim/test/test_data/lee_background.cor, the Lee corpus'
300 background documents (Australian news articles, one document per line; LGPL-2.1 package).

Each document is split into sentences (after ".", "!" or "?" followed by a space and an
uppercase letter, a digit or a quote) and written one sentence per line, with a blank line
between documents: the layout BERT's pre-training data creation reads. Fixed split by the
0-based document index: index % 10 == 0 -> test, == 1 -> dev, otherwise train.

Next-sentence pairs from the same split: for each sentence that has a successor in its
document, {"text": sentence, "text_pair": the next sentence, "label": 0} or, for a random half
(random.Random(f"{split}-nsp")), a sentence of another document of the split with label 1.

Next-sentence multiple choice from the same split (in the style of SWAG): for each sentence that
has a successor, {"id", "context": sentence, "choices": [3 sentences], "label"}: the next
sentence and two sentences of other documents of the split, in an order drawn by
random.Random(f"{split}-choice"); label = the index of the next sentence (chance: 1/3).
Outputs, under OUT (default data/):
  lee/{train,dev,test}.txt
  lee-nsp/{train,dev,test}.jsonl
  lee-choice/{train,dev,test}.jsonl
"""

import argparse
import json
import os
import random
import re
import zipfile

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gensim", required=True, help="the gensim 4.3.3 wheel")
    parser.add_argument("--out", default="data")
    args = parser.parse_args()
    with zipfile.ZipFile(args.gensim) as wheel:
        text = wheel.read("gensim/test/test_data/lee_background.cor").decode("utf-8")
    documents = [line.strip() for line in text.splitlines() if line.strip()]
    splits = {"train": [], "dev": [], "test": []}
    for i, document in enumerate(documents):
        split = {0: "test", 1: "dev"}.get(i % 10, "train")
        sentences = [s.strip() for s in SENTENCE_END.split(document) if s.strip()]
        splits[split].append("\n".join(sentences))
    out = os.path.join(args.out, "lee")
    os.makedirs(out, exist_ok=True)
    for name, items in splits.items():
        with open(os.path.join(out, f"{name}.txt"), "w", encoding="utf-8") as f:
            f.write("\n\n".join(items) + "\n")
    write_rows(os.path.join(args.out, "lee-nsp"), splits, "nsp", next_sentence_pairs)
    write_rows(os.path.join(args.out, "lee-choice"), splits, "choice", next_sentence_choices)
    lines = sum(d.count("\n") + 1 for items in splits.values() for d in items)
    print(f"lee: {len(documents)} documents, {lines} sentences: "
          + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))


def write_rows(out, splits, stream, rows_of):
    """OUT/{split}.jsonl with the rows `rows_of(name, documents, rng)` yields for each split, rng
    being random.Random(f"{split}-{stream}")."""
    os.makedirs(out, exist_ok=True)
    for name, items in splits.items():
        rng = random.Random(f"{name}-{stream}")
        documents = [d.split("\n") for d in items]
        with open(os.path.join(out, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for row in rows_of(name, documents, rng):
                f.write(json.dumps(row, ensure_ascii=False) + "\n")


def next_sentence_pairs(_name, documents, rng):
    """The labelled pairs of one split (see the module docstring)."""
    for d, sentences in enumerate(documents):
        for i in range(len(sentences) - 1):
            row = {"text": sentences[i], "text_pair": sentences[i + 1], "label": 0}
            if rng.random() < 0.5 and len(documents) > 1:
                other = rng.choice([o for o in range(len(documents)) if o != d])
                row["text_pair"] = rng.choice(documents[other])
                row["label"] = 1
            yield row


def next_sentence_choices(name, documents, rng):
    """The next-sentence multiple-choice rows of one split (see the module docstring)."""
    for d, sentences in enumerate(documents):
        others = [o for o in range(len(documents)) if o != d]
        if not others:
            continue
        for i in range(len(sentences) - 1):
            wrong = [rng.choice(documents[rng.choice(others)]) for _ in range(2)]
            choices = [sentences[i + 1]] + wrong
            order = list(range(3))
            rng.shuffle(order)
            yield {"id": f"lee-choice-{name}-{d}-{i}", "context": sentences[i],
                   "choices": [choices[k] for k in order], "label": order.index(0)}

if __name__ == "__main__":
    main()
