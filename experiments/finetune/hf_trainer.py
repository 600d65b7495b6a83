"""The reference side of experiments/finetune: fine-tunes with transformers' Trainer from one of
our TOML configs, so that both sides read the same files with the same hyperparameters.

    python hf_trainer.py --config configs/sentiment.toml [--set training.epochs=1 ...] --out DIR

Reads the same keys `bert-train fine-tune` reads (task, problem_type, model, [data], [training]);
keys about devices, logging and checkpoints are ignored. Missing keys take Trainer's defaults, as
they do in bert-train. Training runs without evaluation or checkpoints inside the loop; the
validation split is evaluated once at the end. Writes DIR/results.json:
{"metrics": {...}, "train_seconds", "train_rows", "train_rows_per_second", "torch_threads", ...}.
"""

import argparse
import csv
import json
import math
import os
import random
import sys
import time
import tomllib

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr
from seqeval.metrics import accuracy_score as tag_accuracy
from seqeval.metrics import f1_score as entity_f1
from seqeval.metrics import precision_score as entity_precision
from seqeval.metrics import recall_score as entity_recall
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

import transformers
from transformers import (
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForNextSentencePrediction,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    BertConfig,
    BertForPreTraining,
    DataCollatorForLanguageModeling,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", required=True)
    return p.parse_args()


def load_config(path, overrides):
    with open(path, "rb") as f:
        config = tomllib.load(f)
    for item in overrides:
        key, _, raw = item.partition("=")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        table = config
        *parents, last = key.split(".")
        for name in parents:
            table = table.setdefault(name, {})
        table[last] = value
    return config


def file_format(data, path):
    if "format" in data:
        return data["format"]
    ext = os.path.splitext(path)[1].lstrip(".").lower()
    return {"txt": "conll", "json": "jsonl"}.get(ext, ext)


def read_table(path, fmt):
    if fmt == "jsonl":
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t" if fmt == "tsv" else ","))


def read_conll(path, token_column, tag_column):
    sentences, tokens, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                if tokens:
                    sentences.append((tokens, tags))
                    tokens, tags = [], []
                continue
            if line.startswith("-DOCSTART-"):
                continue
            fields = line.split()
            tokens.append(fields[token_column])
            tags.append(fields[tag_column])
    if tokens:
        sentences.append((tokens, tags))
    return sentences


def read_tagged(data, path):
    fmt = file_format(data, path)
    if fmt == "jsonl":
        rows = read_table(path, "jsonl")
        return [(r["tokens"], r["tags"]) for r in rows]
    return read_conll(path, data.get("token_column", 0), data.get("tag_column", -1))


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def read_splits(data, read):
    """The train and validation splits, `read(path)` each, cut to max_train/eval_rows."""
    splits = {}
    for split in ("train", "validation"):
        rows = read(data[split])
        limit = data.get("max_train_rows" if split == "train" else "max_eval_rows")
        splits[split] = rows[:limit] if limit else rows
    return splits


def sequence_data(config, tokenizer, regression):
    data = config["data"]
    text, pair = data.get("text_column", "text"), data.get("text_pair_column")
    label_column = data.get("label_column", "label")
    max_len = data.get("max_seq_length", 128)
    splits = read_splits(data, lambda path: read_table(path, file_format(data, path)))
    if regression:
        labels = None
    else:
        labels = data.get("labels") or sorted({str(r[label_column]) for r in splits["train"]})
    encoded = {}
    for split, rows in splits.items():
        items = []
        for r in rows:
            enc = tokenizer(
                r[text],
                r[pair] if pair else None,
                truncation=True,
                max_length=max_len,
            )
            label = float(r[label_column]) if regression else labels.index(str(r[label_column]))
            items.append({**enc, "labels": label})
        encoded[split] = ListDataset(items)
    return labels, encoded


def token_data(config, tokenizer):
    data = config["data"]
    max_len = data.get("max_seq_length", 128)
    splits = read_splits(data, lambda path: read_tagged(data, path))
    labels = data.get("labels") or sorted({t for _, tags in splits["train"] for t in tags})
    encoded = {}
    for split, rows in splits.items():
        items = []
        for words, tags in rows:
            enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_len)
            # The first piece of each word carries its tag; the others and specials -100.
            previous, ids = None, []
            for word in enc.word_ids():
                if word is None or word == previous:
                    ids.append(-100)
                else:
                    ids.append(labels.index(tags[word]))
                previous = word
            items.append({**enc, "labels": ids})
        encoded[split] = ListDataset(items)
    return labels, encoded


def choice_data(config, tokenizer):
    """Multiple choice from JSONL rows: each choice paired with the context, longest-first
    truncation, as transformers' run_swag example encodes them."""
    data = config["data"]
    context, choices = data.get("context_column", "context"), data.get("choices_column", "choices")
    label_column = data.get("label_column", "label")
    max_len = data.get("max_seq_length", 128)
    splits = read_splits(data, lambda path: read_table(path, "jsonl"))
    encoded = {}
    for split, rows in splits.items():
        items = []
        for r in rows:
            n = len(r[choices])
            enc = tokenizer([r[context]] * n, r[choices], truncation=True, max_length=max_len)
            items.append({**enc, "labels": int(r[label_column])})
        encoded[split] = ListDataset(items)
    return None, encoded


class ChoiceCollator:
    """Pads every choice of a batch to the longest one: [batch, choices, seq]."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, features):
        labels = torch.tensor([f["labels"] for f in features])
        n = len(features[0]["input_ids"])
        flat = [{k: f[k][i] for k in f if k != "labels"} for f in features for i in range(n)]
        batch = self.tokenizer.pad(flat, return_tensors="pt")
        batch = {k: v.view(len(features), n, -1) for k, v in batch.items()}
        batch["labels"] = labels
        return batch


def text_documents(path, line_by_line):
    """Blank-line-separated documents (lines joined by spaces), or one text per line."""
    documents, current = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            text = line.strip()
            if line_by_line:
                if text:
                    documents.append(text)
            elif text:
                current.append(text)
            elif current:
                documents.append(" ".join(current))
                current = []
    if current:
        documents.append(" ".join(current))
    return documents


def mlm_data(config, tokenizer):
    """run_mlm.py's data: each document tokenized with [CLS] and [SEP], all concatenated and cut
    into blocks of max_seq_length (the remainder dropped); or one row per line."""
    data = config["data"]
    max_len = data.get("max_seq_length", 128)
    line_by_line = data.get("line_by_line", False)
    splits = read_splits(data, lambda path: text_documents(path, line_by_line))
    encoded = {}
    for split, documents in splits.items():
        if line_by_line:
            items = [tokenizer(d, truncation=True, max_length=max_len,
                               return_special_tokens_mask=True) for d in documents]
        else:
            ids, special = [], []
            for d in documents:
                enc = tokenizer(d, return_special_tokens_mask=True)
                ids += enc["input_ids"]
                special += enc["special_tokens_mask"]
            total = len(ids) // max_len * max_len if len(ids) >= max_len else len(ids)
            items = [{"input_ids": ids[i:i + max_len],
                      "token_type_ids": [0] * len(ids[i:i + max_len]),
                      "attention_mask": [1] * len(ids[i:i + max_len]),
                      "special_tokens_mask": special[i:i + max_len]}
                     for i in range(0, total, max_len)]
        encoded[split] = ListDataset(items)
    return None, encoded


def sentence_documents(path):
    """Documents separated by blank lines, one sentence per line."""
    documents, current = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                current.append(line.strip())
            elif current:
                documents.append(current)
                current = []
    if current:
        documents.append(current)
    return documents


def random_segment(documents, d, target, rng):
    """Sentences from a random place of another document, until `target` tokens."""
    other = d
    for _ in range(10):
        other = rng.randint(0, len(documents) - 1)
        if other != d and documents[other]:
            break
    sentences = documents[other]
    if not sentences:
        return []
    segment = []
    for sentence in sentences[rng.randint(0, len(sentences) - 1):]:
        segment += sentence
        if len(segment) >= target:
            break
    return segment


def document_instances(documents, d, max_tokens, short_seq_prob, rng):
    """create_pretraining_data.py's instances of one document: (A, B, is_random)."""
    document = documents[d]
    target = rng.randint(2, max_tokens) if rng.random() < short_seq_prob else max_tokens
    instances, chunk, length, i = [], [], 0, 0
    while i < len(document):
        chunk.append(i)
        length += len(document[i])
        if i + 1 == len(document) or length >= target:
            a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
            a = [t for j in chunk[:a_end] for t in document[j]]
            if len(chunk) == 1 or rng.random() < 0.5:
                b = random_segment(documents, d, max(target - len(a), 0), rng)
                i -= len(chunk) - a_end
                is_random = 1
            else:
                b = [t for j in chunk[a_end:] for t in document[j]]
                is_random = 0
            while len(a) + len(b) > max_tokens:
                longer = a if len(a) > len(b) else b
                del longer[0 if rng.random() < 0.5 else -1]
            if a and b:
                instances.append((a, b, is_random))
            chunk, length = [], 0
        i += 1
    return instances


def pretraining_data(config, tokenizer):
    """BERT's create_pretraining_data.py: segment pairs up to max_seq_length, half of them with
    a random B from another document (label 1), short_seq_prob of them shorter; made once per
    split from the seed. Masking is left to DataCollatorForLanguageModeling."""
    data = config["data"]
    max_tokens = data.get("max_seq_length", 128) - 3
    short_seq_prob = data.get("short_seq_prob", 0.1)
    training = config.get("training", {})
    seed = training.get("data_seed", training.get("seed", 42))
    splits = read_splits(data, sentence_documents)
    encoded = {}
    for split, documents in splits.items():
        rng = random.Random(f"{seed}-{split}")
        tokens = [[ids for ids in (tokenizer(line, add_special_tokens=False)["input_ids"]
                                   for line in document) if ids] for document in documents]
        items = []
        for d in range(len(tokens)):
            for a, b, is_random in document_instances(tokens, d, max_tokens, short_seq_prob, rng):
                ids = [tokenizer.cls_token_id] + a + [tokenizer.sep_token_id] + b + [
                    tokenizer.sep_token_id]
                items.append({
                    "input_ids": ids,
                    "token_type_ids": [0] * (len(a) + 2) + [1] * (len(b) + 1),
                    "attention_mask": [1] * len(ids),
                    "special_tokens_mask": [1] + [0] * len(a) + [1] + [0] * len(b) + [1],
                    "next_sentence_label": is_random,
                })
        encoded[split] = ListDataset(items)
    return None, encoded


def pretraining_outputs(logits, labels):
    """Per batch: the MLM cross-entropy and hit of every position (-1 where nothing is
    predicted), and the NSP logits, for pretraining_metrics."""
    mlm, nsp = logits[0], logits[1]
    mlm_labels = labels[0]
    chosen = mlm_labels != -100
    nll = torch.nn.functional.cross_entropy(mlm.transpose(1, 2), mlm_labels.clamp(min=0),
                                            reduction="none")
    hit = (mlm.argmax(-1) == mlm_labels).float()
    return torch.where(chosen, nll, -1.0), torch.where(chosen, hit, -1.0), nsp


def pretraining_metrics(predictions, label_ids):
    nll, hit, nsp = predictions
    chosen = nll >= 0  # -1: not predicted; -100: padding between batches
    next_label = label_ids[1]
    shifted = nsp - nsp.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    nsp_nll = -log_probs[np.arange(len(next_label)), next_label]
    return {
        "mlm_loss": float(nll[chosen].mean()),
        "mlm_accuracy": float(hit[chosen].mean()),
        "nsp_loss": float(nsp_nll.mean()),
        "nsp_accuracy": float((nsp.argmax(-1) == next_label).mean()),
    }


def qa_rows(path):
    """SQuAD JSON or JSONL questions as JSONL-style rows."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and "data" in doc:
        rows = []
        for article in doc["data"]:
            for p in article["paragraphs"]:
                for qa in p["qas"]:
                    answers = [] if qa.get("is_impossible") else qa["answers"]
                    rows.append({"id": qa["id"], "question": qa["question"], "context": p["context"],
                                 "answers": {"text": [a["text"] for a in answers],
                                             "answer_start": [a["answer_start"] for a in answers]}})
        return rows
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def qa_label(offsets, sequence_ids, start_char, end_char):
    """run_qa.py's training labels (first and last answer token, else [CLS]), with the scan kept
    inside the window's context."""
    context = [i for i, s in enumerate(sequence_ids) if s == 1]
    first, last = context[0], context[-1]
    if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
        return 0, 0
    start = first
    while start <= last and offsets[start][0] <= start_char:
        start += 1
    end = last
    while end >= first and offsets[end][1] >= end_char:
        end -= 1
    return start - 1, end + 1


def qa_data(config, tokenizer):
    """Windows as run_qa.py makes them: the question (cut to max_query_length tokens, as BERT's
    run_squad did), the context with truncation="only_second", a stride and overflowing tokens;
    every window labelled (evaluation windows too, for the loss)."""
    data = config["data"]
    max_len = data.get("max_seq_length", 384)
    stride = data.get("doc_stride", 128)
    max_query = data.get("max_query_length", 64)
    # SQuAD v1 style: questions without an answer are left out (bert-train skips them as bad
    # rows with `on_bad_row = "skip"`), before max_train/eval_rows apply, as in bert-train.
    v2 = data.get("version_2_with_negative", False)
    splits = read_splits(data, lambda path: [r for r in qa_rows(path) if v2 or r["answers"]["text"]])
    encoded, windows = {}, {}
    for split, rows in splits.items():
        items, meta = [], []
        for index, r in enumerate(rows):
            question = r["question"].lstrip()
            q = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
            if len(q["input_ids"]) > max_query:
                question = question[: q["offset_mapping"][max_query - 1][1]]
            enc = tokenizer(question, r["context"], truncation="only_second", max_length=max_len,
                            stride=stride, return_overflowing_tokens=True,
                            return_offsets_mapping=True)
            answers = r["answers"]
            for w in range(len(enc["input_ids"])):
                seq = enc.sequence_ids(w)
                offsets = enc["offset_mapping"][w]
                if answers["text"]:
                    s = answers["answer_start"][0]
                    start, end = qa_label(offsets, seq, s, s + len(answers["text"][0]))
                else:
                    start, end = 0, 0
                items.append({"input_ids": enc["input_ids"][w],
                              "token_type_ids": enc["token_type_ids"][w],
                              "attention_mask": enc["attention_mask"][w],
                              "start_positions": start, "end_positions": end})
                meta.append((index, [o if s == 1 else None for o, s in zip(offsets, seq)]))
        encoded[split] = ListDataset(items)
        windows[split] = (rows, meta)
    return windows, encoded


def qa_answers(rows, meta, starts, ends, data):
    """run_qa.py's post-processing: n-best starts and ends per window, spans inside the context,
    end >= start, at most max_answer_length tokens, best start + end logit over the windows of
    a question; v2: the empty answer when the smallest null score beats it by the threshold."""
    n_best = data.get("n_best_size", 20)
    max_answer = data.get("max_answer_length", 30)
    v2 = data.get("version_2_with_negative", False)
    threshold = data.get("null_score_diff_threshold", 0.0)
    best = {}
    for (index, offsets), s_row, e_row in zip(meta, starts, ends):
        n = len(offsets)
        s_row, e_row = s_row[:n], e_row[:n]
        entry = best.setdefault(index, {"null": None, "span": None})
        null = float(s_row[0] + e_row[0])
        entry["null"] = null if entry["null"] is None else min(entry["null"], null)
        top_s = np.argsort(s_row)[-1 : -n_best - 1 : -1]
        top_e = np.argsort(e_row)[-1 : -n_best - 1 : -1]
        for s in top_s:
            for e in top_e:
                if offsets[s] is None or offsets[e] is None or e < s or e - s + 1 > max_answer:
                    continue
                score = float(s_row[s] + e_row[e])
                if entry["span"] is None or score > entry["span"][0]:
                    entry["span"] = (score, offsets[s][0], offsets[e][1])
    predictions = {}
    for index, r in enumerate(rows):
        entry = best[index]
        if entry["span"] is None:
            predictions[r["id"]] = ""
            continue
        score, a, b = entry["span"]
        text = r["context"][a:b]
        predictions[r["id"]] = "" if v2 and entry["null"] - score > threshold else text
    return predictions


def official_squad(version_2):
    """The official evaluation script, as the datasets 1.18.4 sdist ships it (downloaded from
    PyPI into the cache once)."""
    import importlib.util
    import subprocess
    import tarfile

    cache = os.environ.get("BERT_RS_CACHE", os.path.expanduser("~/.cache/bert-rs"))
    name = "squad_v2" if version_2 else "squad"
    path = os.path.join(cache, "downloads", "squad-evaluate", name, "evaluate.py")
    if not os.path.exists(path):
        downloads = os.path.join(cache, "downloads")
        sdist = os.path.join(downloads, "datasets-1.18.4.tar.gz")
        if not os.path.exists(sdist):
            subprocess.check_call([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                                   "--no-binary", ":all:", "--dest", downloads, "datasets==1.18.4"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with tarfile.open(sdist) as tar:
            member = tar.extractfile(f"datasets-1.18.4/metrics/{name}/evaluate.py")
            with open(path, "wb") as f:
                f.write(member.read())
    spec = importlib.util.spec_from_file_location(f"official_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def qa_metrics(rows, predictions, version_2):
    official = official_squad(version_2)
    if not version_2:
        dataset = [{"paragraphs": [{"qas": [{"id": r["id"], "answers": [
            {"text": t} for t in r["answers"]["text"]]}]}]} for r in rows]
        return {k: v / 100 for k, v in official.evaluate(dataset, predictions).items()}
    dataset = [{"paragraphs": [{"qas": [{"id": r["id"], "answers": r["answers"]}]}]} for r in rows]
    exact, f1 = official.get_raw_scores(dataset, predictions)
    scores = dict(official.make_eval_dict(exact, f1))
    has = [r["id"] for r in rows if r["answers"]["text"]]
    no = [r["id"] for r in rows if not r["answers"]["text"]]
    if has:
        official.merge_eval(scores, official.make_eval_dict(exact, f1, qid_list=has), "HasAns")
    if no:
        official.merge_eval(scores, official.make_eval_dict(exact, f1, qid_list=no), "NoAns")
    out = {"exact_match": scores["exact"] / 100, "f1": scores["f1"] / 100}
    for k in ["HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1"]:
        if k in scores:
            out[k] = scores[k] / 100
    return out


def sequence_metrics(logits, gold, labels, regression):
    if regression:
        pred = logits[:, 0]
        return {
            "mse": float(np.mean((pred - gold) ** 2)),
            "pearson": float(pearsonr(pred, gold)[0]),
            "spearman": float(spearmanr(pred, gold)[0]),
        }
    pred = logits.argmax(-1)
    average = "binary" if len(labels) == 2 else "macro"
    return {
        "accuracy": float(accuracy_score(gold, pred)),
        "f1": float(f1_score(gold, pred, average=average)),
        "mcc": float(matthews_corrcoef(gold, pred)),
    }


def token_metrics(logits, gold, labels):
    pred = logits.argmax(-1)
    y_true, y_pred = [], []
    for p_row, g_row in zip(pred, gold):
        keep = g_row != -100
        y_true.append([labels[i] for i in g_row[keep]])
        y_pred.append([labels[i] for i in p_row[keep]])
    return {
        "precision": float(entity_precision(y_true, y_pred)),
        "recall": float(entity_recall(y_true, y_pred)),
        "f1": float(entity_f1(y_true, y_pred)),
        "accuracy": float(tag_accuracy(y_true, y_pred)),
    }


def main():
    args = parse_args()
    config = load_config(args.config, args.set)
    t = config.get("training", {})
    task = config["task"]
    regression = config.get("problem_type") == "regression"
    model_dir = config.get("model")
    if isinstance(model_dir, dict):
        # [model] tokenizer + config: a model trained from scratch.
        tokenizer = AutoTokenizer.from_pretrained(model_dir["tokenizer"])
    else:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)

    # As run_glue / run_qa / run_mlm do: seed before the model is made, so that a new head's
    # initialisation follows the seed (bert-train seeds it from `seed` too). Before 2026-12-02
    # (session 9) this script made the model unseeded: torch's default generator gave every
    # run the same head whatever the seed.
    transformers.set_seed(t.get("seed", 42))
    if task == "sequence-classification":
        labels, splits = sequence_data(config, tokenizer, regression)
        collator = DataCollatorWithPadding(tokenizer)
        if regression:
            model = AutoModelForSequenceClassification.from_pretrained(
                model_dir, num_labels=1, problem_type="regression"
            )
        else:
            model = AutoModelForSequenceClassification.from_pretrained(
                model_dir,
                num_labels=len(labels),
                id2label=dict(enumerate(labels)),
                label2id={l: i for i, l in enumerate(labels)},
            )
    elif task == "token-classification":
        labels, splits = token_data(config, tokenizer)
        collator = DataCollatorForTokenClassification(tokenizer)
        model = AutoModelForTokenClassification.from_pretrained(
            model_dir,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={l: i for i, l in enumerate(labels)},
        )
    elif task == "multiple-choice":
        labels, splits = choice_data(config, tokenizer)
        collator = ChoiceCollator(tokenizer)
        model = AutoModelForMultipleChoice.from_pretrained(model_dir)
    elif task == "next-sentence":
        # Pairs labelled 0 (the second text follows) or 1: the label is the class id.
        config["data"].setdefault("text_pair_column", "text_pair")
        labels, splits = sequence_data(config, tokenizer, False)
        collator = DataCollatorWithPadding(tokenizer)
        model = AutoModelForNextSentencePrediction.from_pretrained(model_dir)
    elif task == "pretraining":
        labels, splits = pretraining_data(config, tokenizer)
        collator = DataCollatorForLanguageModeling(
            tokenizer, mlm_probability=config["data"].get("mlm_probability", 0.15))
        model = BertForPreTraining(BertConfig(**model_dir.get("config", {})))
    elif task == "masked-lm":
        labels, splits = mlm_data(config, tokenizer)
        collator = DataCollatorForLanguageModeling(
            tokenizer, mlm_probability=config["data"].get("mlm_probability", 0.15))
        model = AutoModelForMaskedLM.from_pretrained(model_dir)
    elif task == "question-answering":
        labels, splits = qa_data(config, tokenizer)
        collator = DataCollatorWithPadding(tokenizer)
        model = AutoModelForQuestionAnswering.from_pretrained(model_dir)
    else:
        sys.exit(f"hf_trainer.py: task {task!r} is not compared here")

    training_args = TrainingArguments(
        output_dir=os.path.join(args.out, "trainer"),
        num_train_epochs=t.get("epochs", 3),
        max_steps=t.get("max_steps", -1),
        per_device_train_batch_size=t.get("batch_size", 8),
        per_device_eval_batch_size=t.get("eval_batch_size", t.get("batch_size", 8)),
        gradient_accumulation_steps=t.get("gradient_accumulation_steps", 1),
        learning_rate=t.get("learning_rate", 5e-5),
        weight_decay=t.get("weight_decay", 0.0),
        adam_beta1=t.get("adam_beta1", 0.9),
        adam_beta2=t.get("adam_beta2", 0.999),
        adam_epsilon=t.get("adam_epsilon", 1e-8),
        warmup_steps=t.get("warmup_steps", t.get("warmup_ratio", 0.0)),
        lr_scheduler_type=t.get("lr_scheduler", "linear"),
        max_grad_norm=t.get("max_grad_norm", 1.0),
        seed=t.get("seed", 42),
        data_seed=t.get("data_seed"),
        train_sampling_strategy="group_by_length" if t.get("group_by_length") else "random",
        eval_strategy="no",
        save_strategy="no",
        logging_steps=t.get("log_every_steps", 10),
        report_to="none",
        use_cpu=True,
        dataloader_num_workers=0,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=splits["train"],
        data_collator=collator,
        # Masked LM: keep the argmax, not [rows, seq, vocab] logits.
        preprocess_logits_for_metrics={
            "masked-lm": lambda logits, _: logits.argmax(-1),
            "pretraining": pretraining_outputs,
        }.get(task),
    )
    before = None
    if task == "masked-lm":
        # Perplexity of the checkpoint (with its newly initialised head) before training.
        loss = trainer.evaluate(splits["validation"])["eval_loss"]
        before = {"loss": loss, "perplexity": math.exp(loss)}
    start = time.perf_counter()
    trained = trainer.train()
    train_seconds = time.perf_counter() - start
    steps = trained.global_step
    if training_args.max_steps > 0:
        # Full batches; the last batch of an epoch may be shorter.
        batch = training_args.per_device_train_batch_size
        rows = steps * batch * training_args.gradient_accumulation_steps
    else:
        # Training units: rows, windows (question answering) or questions (multiple choice).
        rows = len(splits["train"]) * int(training_args.num_train_epochs)

    eval_start = time.perf_counter()
    output = trainer.predict(splits["validation"])
    eval_seconds = time.perf_counter() - eval_start
    logits, gold = output.predictions, output.label_ids
    if task == "token-classification":
        metrics = token_metrics(logits, gold, labels)
    elif task in ("multiple-choice", "next-sentence"):
        metrics = {"accuracy": float(accuracy_score(gold, logits.argmax(-1)))}
    elif task == "masked-lm":
        chosen = gold != -100
        metrics = {"accuracy": float((logits[chosen] == gold[chosen]).mean()),
                   "perplexity": math.exp(float(output.metrics["test_loss"]))}
    elif task == "pretraining":
        metrics = pretraining_metrics(logits, gold)
    elif task == "question-answering":
        questions, meta = labels["validation"]
        predictions = qa_answers(questions, meta, logits[0], logits[1], config["data"])
        v2 = config["data"].get("version_2_with_negative", False)
        metrics = qa_metrics(questions, predictions, v2)
    else:
        metrics = sequence_metrics(logits, gold, labels, regression)
    metrics["loss"] = float(output.metrics["test_loss"])

    result = {
        "config": args.config,
        "overrides": args.set,
        "metrics": metrics,
        "metrics_before": before,
        "steps": steps,
        "train_seconds": train_seconds,
        "train_rows": rows,
        "train_rows_per_second": rows / train_seconds,
        "eval_seconds": eval_seconds,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    os.makedirs(args.out, exist_ok=True)
    if task == "masked-lm":
        # Kept for mlm_eval.py, which scores both sides' models on the same mask draws.
        trainer.save_model(os.path.join(args.out, "model"))
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
