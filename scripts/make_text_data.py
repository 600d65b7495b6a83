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
Outputs, under OUT (default data/):
  lee/{train,dev,test}.txt
  lee-nsp/{train,dev,test}.jsonl
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
    pairs_out = os.path.join(args.out, "lee-nsp")
    os.makedirs(pairs_out, exist_ok=True)
    for name, items in splits.items():
        rng = random.Random(f"{name}-nsp")
        split_documents = [d.split("\n") for d in items]
        with open(os.path.join(pairs_out, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for d, sentences in enumerate(split_documents):
                for i in range(len(sentences) - 1):
                    row = {"text": sentences[i], "text_pair": sentences[i + 1], "label": 0}
                    if rng.random() < 0.5 and len(split_documents) > 1:
                        other = rng.choice([o for o in range(len(split_documents)) if o != d])
                        row["text_pair"] = rng.choice(split_documents[other])
                        row["label"] = 1
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
    lines = sum(d.count("\n") + 1 for items in splits.values() for d in items)
    print(f"lee: {len(documents)} documents, {lines} sentences: "
          + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))


if __name__ == "__main__":
    main()
