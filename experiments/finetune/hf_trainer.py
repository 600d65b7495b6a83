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
    AutoModelForMultipleChoice,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
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
    model_dir = config["model"]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)

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
    )
    start = time.perf_counter()
    trained = trainer.train()
    train_seconds = time.perf_counter() - start
    steps = trained.global_step
    if training_args.max_steps > 0:
        # Full batches; the last batch of an epoch may be shorter.
        batch = training_args.per_device_train_batch_size
        rows = steps * batch * training_args.gradient_accumulation_steps
    else:
        rows = len(splits["train"]) * int(training_args.num_train_epochs)

    eval_start = time.perf_counter()
    output = trainer.predict(splits["validation"])
    eval_seconds = time.perf_counter() - eval_start
    logits, gold = output.predictions, output.label_ids
    if task == "token-classification":
        metrics = token_metrics(logits, gold, labels)
    elif task == "multiple-choice":
        metrics = {"accuracy": float(accuracy_score(gold, logits.argmax(-1)))}
    else:
        metrics = sequence_metrics(logits, gold, labels, regression)
    metrics["loss"] = float(output.metrics["test_loss"])

    result = {
        "config": args.config,
        "overrides": args.set,
        "metrics": metrics,
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
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
