#!/usr/bin/env python3
"""Held-out tokenizer parity: `bert-train tokenize` against transformers' BertTokenizer.

Builds the held-out corpus (scripts/tokenizer_corpus.py: real text this machine ships, none of it
in the committed fixtures), then for each of the four option sets of the acceptance criteria
(lowercase; cased; lowercase keeping accents; lowercase without CJK splitting) runs
transformers' BertTokenizer and `bert-train tokenize --model DIR <flags>` over it and compares
`tokens` and `ids` on every line. Prints the first differences and "N passed, M failed";
exits non-zero on any difference.

    python scripts/tokenizer_parity.py --bert-train PATH --model DIR [--max-lines N] [--work DIR]
(run it with a Python that has transformers, e.g. ~/.cache/bert-rs/venv-reference/bin/python)
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenizer_corpus  # noqa: E402

from transformers import BertTokenizer  # noqa: E402

# name -> (BertTokenizer keyword arguments, bert-train tokenize flags)
OPTION_SETS = {
    "lowercase": ({}, []),
    "cased": ({"do_lower_case": False}, ["--lowercase", "false"]),
    "lowercase-keep-accents": ({"strip_accents": False}, ["--strip-accents", "false"]),
    "lowercase-no-cjk": ({"tokenize_chinese_chars": False}, ["--split-chinese", "false"]),
}


def reference(tok, record):
    text, pair = record["text"], record.get("text_pair")
    tokens = tok.tokenize(text) + (tok.tokenize(pair) if pair is not None else [])
    ids = tok(text, pair)["input_ids"] if pair is not None else tok(text)["input_ids"]
    return tokens, ids


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bert-train", required=True, help="path of the bert-train binary")
    parser.add_argument("--model", required=True, help="all-MiniLM-L6-v2 directory")
    parser.add_argument("--max-lines", type=int, default=50000)
    parser.add_argument("--work", help="directory for the corpus and outputs (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="tokenizer-parity-")
    os.makedirs(work, exist_ok=True)

    corpus = os.path.join(work, "heldout.jsonl")
    records = tokenizer_corpus.heldout_records(args.max_lines)
    with open(corpus, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    pairs = sum("text_pair" in r for r in records)
    chars = sum(len(r["text"]) + len(r.get("text_pair", "")) for r in records)
    print(f"held-out corpus: {len(records)} lines ({pairs} with a pair), {chars} characters, in {corpus}")

    vocab = os.path.join(args.model, "vocab.txt")
    passed = failed = 0
    for name, (kwargs, flags) in OPTION_SETS.items():
        out = os.path.join(work, f"{name}.jsonl")
        started = time.time()
        run = subprocess.run(
            [args.bert_train, "tokenize", "--model", args.model, *flags, "--input", corpus, "--output", out],
            capture_output=True,
            text=True,
        )
        ours_seconds = time.time() - started
        if run.returncode != 0:
            print(f"{name}: bert-train tokenize failed ({run.returncode}): {run.stderr.strip()}")
            failed += len(records)
            continue
        tok = BertTokenizer(vocab=vocab, **kwargs)
        with open(out, encoding="utf-8") as f:
            ours = [json.loads(line) for line in f]
        if len(ours) != len(records):
            print(f"{name}: {len(ours)} output lines for {len(records)} input lines")
            failed += len(records)
            continue
        set_failed = 0
        for number, (record, got) in enumerate(zip(records, ours), start=1):
            tokens, ids = reference(tok, record)
            if got["tokens"] == tokens and got["ids"] == ids and got["text"] == record["text"]:
                passed += 1
                continue
            set_failed += 1
            if set_failed <= 5:
                print(f"{name}: line {number} differs: {record!r}\n  ours: {got['tokens']}\n  want: {tokens}")
        failed += set_failed
        print(f"{name}: {len(records) - set_failed}/{len(records)} lines identical (bert-train took {ours_seconds:.1f}s)")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
