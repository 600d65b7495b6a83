#!/usr/bin/env python3
"""Writes a text corpus of a given size for the corpus-preparation measurements.

The documents are real text that this machine ships and nobody here wrote: the licences in
/usr/share/common-licenses, Debian packages' copyright files and changelogs (/usr/share/doc),
CPython's documentation topics (pydoc_data) and the repository's Lee news corpus
(data/lee/train.txt, from gensim's test data). Each paragraph (blank-line separated) is one
document. The unique text is some tens of MB; the corpus repeats it, each pass in another
document order (seeded), until SIZE bytes, so a 1 GB corpus holds the same text as a 100 MB
one many times over (tokenization speed and memory do not depend on that).

    python3 experiments/corpus/make_corpus.py OUT.txt SIZE_MB
"""

import glob
import gzip
import os
import random
import sys


def paragraphs(text):
    for block in text.split("\n\n"):
        lines = [l.strip() for l in block.splitlines() if l.strip()]
        if len(lines) >= 1 and sum(len(l) for l in lines) >= 40:
            yield "\n".join(lines)


def documents():
    files = sorted(glob.glob("/usr/share/common-licenses/*"))
    files += sorted(glob.glob("/usr/share/doc/*/copyright"))
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                yield from paragraphs(f.read())
        except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
            pass
    for path in sorted(glob.glob("/usr/share/doc/*/changelog*.gz")):
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                yield from paragraphs(f.read())
        except (UnicodeDecodeError, OSError, EOFError):
            pass
    try:
        from pydoc_data.topics import topics

        for name in sorted(topics):
            yield from paragraphs(topics[name])
    except ImportError:
        pass
    lee = os.path.join(os.path.dirname(__file__), "..", "..", "data", "lee", "train.txt")
    if os.path.exists(lee):
        with open(lee, encoding="utf-8") as f:
            yield from paragraphs(f.read())


def main():
    out, size_mb = sys.argv[1], float(sys.argv[2])
    target = int(size_mb * 1e6)
    docs = list(documents())
    unique = sum(len(d.encode()) + 2 for d in docs)
    print(f"{len(docs)} documents, {unique / 1e6:.1f} MB of unique text", file=sys.stderr)
    rng = random.Random(20261208)
    written = 0
    with open(out, "w", encoding="utf-8") as f:
        while written < target:
            order = list(range(len(docs)))
            rng.shuffle(order)
            for i in order:
                text = docs[i] + "\n\n"
                f.write(text)
                written += len(text.encode())
                if written >= target:
                    break
    print(f"{out}: {written / 1e6:.1f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
