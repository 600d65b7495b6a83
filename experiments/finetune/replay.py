"""Step-by-step check of training against torch: feeds torch exactly the batches
`bert-train fine-tune` trains on, so that the two training-loss curves can be compared step by
step (the same start, no dropout, the same masks). Tasks: masked-lm, next-sentence,
question-answering and multiple-choice.

    python replay.py prepare --config configs/lee-mlm.toml --out DIR [--seed 0] [--dropout 0]
        DIR/model: the config's checkpoint with its task's head newly initialised (torch seed
        --seed) and both dropout probabilities set to --dropout, saved with save_pretrained,
        plus the tokenizer files. Point both sides at it.
    python replay.py train --config configs/lee-mlm.toml --model DIR/model \
        [--set training.epochs=2 ...] [--torch-seed 0] [--save DIR] --out DIR/torch.csv
        Trains with torch on bert-train's batches: the rows of hf_trainer.py's readers (blocks
        packed as run_mlm; pairs encoded with longest-first truncation; QA windows as run_qa
        makes them, each labelled with its answer's tokens or [CLS]), in bert-train's epoch
        order (`BatchPlan::batches`, no length grouping) and, for masked LM, with bert-train's
        masks (SplitMix64 streams seeded as `tasks::batch_rng` seeds them); AdamW with
        Trainer's no-decay groups, clipping at max_grad_norm, the linear schedule with warmup.
        Writes step,loss,grad_norm,learning_rate per step, then a `validation` row: the
        validation loss (masked LM: with bert-train's fixed evaluation masks; QA: over the
        windows, padded per batch as bert-train pads them) and, for
        next-sentence, the accuracy in the grad_norm column. --save DIR keeps the trained
        model, so that `bert-train evaluate --model DIR` scores it (QA: EM and F1).

bert-train's side: `bert-train fine-tune --config ... --set model=DIR/model
--set training.log_every_steps=1 ...` and its metrics.csv. Differences in the first steps then
come from float noise only; a step where the curves part names what to look at.
"""

import argparse
import csv
import math
import os
import shutil
import sys

import torch
from transformers import (AutoConfig, AutoModelForMaskedLM, AutoModelForMultipleChoice,
                          AutoModelForNextSentencePrediction, AutoModelForQuestionAnswering,
                          AutoTokenizer, Trainer)
from transformers.optimization import get_scheduler

sys.path.insert(0, os.path.dirname(__file__))
from hf_trainer import choice_data, load_config, mlm_data, qa_data, sequence_data  # noqa: E402

MASK64 = (1 << 64) - 1
TOKENIZER_FILES = ["vocab.txt", "tokenizer.json", "tokenizer_config.json",
                   "special_tokens_map.json"]


class SplitMix64:
    """bert_model::rng::SplitMix64, bit for bit."""

    def __init__(self, state):
        self.state = state & MASK64

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def uniform(self):
        return ((self.next_u64() >> 11) + 1.0) / float(1 << 53)

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.next_u64() % (i + 1)
            items[i], items[j] = items[j], items[i]


EVALUATION_SEED = 0x5EED0FE7A1


def batch_rng(seed, step, micro):
    """bert_train::tasks::batch_rng."""
    rotated = ((seed << 17) | (seed >> 47)) & MASK64
    mix = SplitMix64(rotated ^ ((step * 0xD6E8FEB86659FD93) & MASK64) ^ micro)
    return SplitMix64(mix.next_u64())


def epoch_batches(n, batch_size, seed, epoch):
    """BatchPlan::batches with a shuffle seed and no length grouping."""
    order = list(range(n))
    SplitMix64(seed ^ ((epoch * 0x9E3779B97F4A7C15) & MASK64)).shuffle(order)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def mask_block(ids, special, probability, mask_id, vocab_size, rng):
    """masked_lm::mask_block without whole-word masking."""
    chosen = []
    for s in special:
        draw = rng.uniform() <= probability
        chosen.append(not s and draw)
    out, labels = list(ids), [-100] * len(ids)
    for i, c in enumerate(chosen):
        if not c:
            continue
        labels[i] = ids[i]
        roll = rng.uniform()
        if roll <= 0.8:
            out[i] = mask_id
        elif roll <= 0.9:
            out[i] = rng.next_u64() % vocab_size
    return out, labels


class Task:
    """A task's encoded splits (`self.splits`), as lists of rows."""

    def rows(self, split):
        data = self.splits[split]
        return [data[i] for i in range(len(data))]


class MaskedLm(Task):
    """Blocks, masked per step from bert-train's batch stream."""

    head = AutoModelForMaskedLM

    def __init__(self, config, tokenizer):
        self.splits = mlm_data(config, tokenizer)[1]
        self.probability = config["data"].get("mlm_probability", 0.15)
        self.mask_id, self.vocab = tokenizer.mask_token_id, len(tokenizer)

    def batch(self, rows, rng):
        masked = [mask_block(r["input_ids"], r["special_tokens_mask"], self.probability,
                             self.mask_id, self.vocab, rng) for r in rows]
        ids = torch.tensor([m[0] for m in masked])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids),
                "token_type_ids": torch.zeros_like(ids),
                "labels": torch.tensor([m[1] for m in masked])}

    def hits(self, outputs, batch):
        return None


class NextSentence(Task):
    """Labelled pairs, padded on the right to the longest of the batch."""

    head = AutoModelForNextSentencePrediction

    def __init__(self, config, tokenizer):
        config["data"].setdefault("text_pair_column", "text_pair")
        self.splits = sequence_data(config, tokenizer, False)[1]
        self.pad = tokenizer.pad_token_id

    def batch(self, rows, rng):
        return {**padded_inputs(rows, self.pad),
                "labels": torch.tensor([r["labels"] for r in rows])}

    def hits(self, outputs, batch):
        return int((outputs.logits.argmax(-1) == batch["labels"]).sum())


class QuestionAnswering(Task):
    """Windows labelled with their answer's first and last token ([CLS] where the window holds
    no answer), padded on the right to the longest of the batch: the head's softmax runs over
    the padded positions too, on both sides."""

    head = AutoModelForQuestionAnswering

    def __init__(self, config, tokenizer):
        self.splits = qa_data(config, tokenizer)[1]
        self.pad = tokenizer.pad_token_id

    def batch(self, rows, rng):
        return {**padded_inputs(rows, self.pad),
                "start_positions": torch.tensor([r["start_positions"] for r in rows]),
                "end_positions": torch.tensor([r["end_positions"] for r in rows])}

    def hits(self, outputs, batch):
        return None


class MultipleChoice(Task):
    """Each choice paired with the context, every choice of a batch padded on the right to the
    longest one: [batch, choices, seq]."""

    head = AutoModelForMultipleChoice

    def __init__(self, config, tokenizer):
        self.splits = choice_data(config, tokenizer)[1]
        self.pad = tokenizer.pad_token_id

    def batch(self, rows, rng):
        n = len(rows[0]["input_ids"])
        keys = ("input_ids", "token_type_ids", "attention_mask")
        flat = [{k: r[k][i] for k in keys} for r in rows for i in range(n)]
        inputs = {k: v.view(len(rows), n, -1) for k, v in padded_inputs(flat, self.pad).items()}
        return {**inputs, "labels": torch.tensor([r["labels"] for r in rows])}

    def hits(self, outputs, batch):
        return int((outputs.logits.argmax(-1) == batch["labels"]).sum())


def padded_inputs(rows, pad):
    """The rows' ids, token types and attention masks, padded on the right to the longest."""
    width = max(len(r["input_ids"]) for r in rows)

    def padded(key, value):
        return torch.tensor([r[key] + [value] * (width - len(r[key])) for r in rows])

    return {"input_ids": padded("input_ids", pad), "token_type_ids": padded("token_type_ids", 0),
            "attention_mask": padded("attention_mask", 0)}


TASKS = {"masked-lm": MaskedLm, "next-sentence": NextSentence,
         "question-answering": QuestionAnswering, "multiple-choice": MultipleChoice}


def prepare(args):
    config = load_config(args.config, [])
    source = config["model"]
    torch.manual_seed(args.seed)
    model_config = AutoConfig.from_pretrained(source)
    model_config.hidden_dropout_prob = args.dropout
    model_config.attention_probs_dropout_prob = args.dropout
    model = TASKS[config["task"]].head.from_pretrained(source, config=model_config)
    target = os.path.join(args.out, "model")
    model.save_pretrained(target)
    for name in TOKENIZER_FILES:
        if os.path.exists(os.path.join(source, name)):
            shutil.copy(os.path.join(source, name), target)
    print(f"wrote {target}")


def optimizer_and_schedule(model, t, total):
    """Trainer's AdamW (no decay on biases and LayerNorm) and its warmup schedule."""
    warmup = t.get("warmup_steps", math.ceil(t.get("warmup_ratio", 0.0) * total))
    decay = set(Trainer.get_decay_parameter_names(None, model))
    groups = [
        {"params": [p for n, p in model.named_parameters() if n in decay],
         "weight_decay": t.get("weight_decay", 0.0)},
        {"params": [p for n, p in model.named_parameters() if n not in decay],
         "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=t.get("learning_rate", 5e-5),
                                  betas=(t.get("adam_beta1", 0.9), t.get("adam_beta2", 0.999)),
                                  eps=t.get("adam_epsilon", 1e-8))
    return optimizer, get_scheduler(t.get("lr_scheduler", "linear"), optimizer, warmup, total)


def train(args):
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
    torch.manual_seed(args.torch_seed)
    config = load_config(args.config, args.set)
    config["model"] = args.model
    t = config.get("training", {})
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    task = TASKS[config["task"]](config, tokenizer)
    rows = task.rows("train")
    model = task.head.from_pretrained(args.model)
    model.train()

    seed = t.get("data_seed", t.get("seed", 42))
    batch_size, epochs = t.get("batch_size", 8), t.get("epochs", 3)
    total = math.ceil(len(rows) / batch_size) * epochs
    optimizer, scheduler = optimizer_and_schedule(model, t, total)
    with open(args.out, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["step", "loss", "grad_norm", "learning_rate"])
        step = 0
        for epoch in range(epochs):
            for indices in epoch_batches(len(rows), batch_size, seed, epoch):
                batch = task.batch([rows[r] for r in indices], batch_rng(seed, step, 0))
                rate = scheduler.get_last_lr()[0]
                loss = model(**batch).loss
                loss.backward()
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(),
                                                      t.get("max_grad_norm", 1.0))
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                step += 1
                out.writerow([step, f"{loss.item():.6f}", f"{norm.item():.6f}", rate])
                f.flush()
                print(f"step {step}: loss {loss.item():.4f} grad_norm {norm.item():.3f}",
                      flush=True)
        loss, accuracy = evaluate(model, task, t)
        out.writerow(["validation", f"{loss:.6f}", "" if accuracy is None else accuracy, ""])
        print(f"validation: loss {loss:.4f} (exp {math.exp(loss):.1f}) accuracy {accuracy}")
    if args.save:
        model.save_pretrained(args.save)
        tokenizer.save_pretrained(args.save)


def evaluate(model, task, t):
    """The validation loss as `tasks::evaluate` computes it: batches longest rows first, ties in
    file order (`evaluation_batches`; masked LM: masks from the fixed evaluation stream), the
    mean of batch losses weighted by rows; and the share of rows whose argmax is right where
    the task has one label per row."""
    rows = sorted(task.rows("validation"), key=lambda r: -len(r["input_ids"]))
    size = t.get("eval_batch_size", t.get("batch_size", 8))
    model.eval()
    total, hits = 0.0, 0
    with torch.no_grad():
        for b, start in enumerate(range(0, len(rows), size)):
            batch = task.batch(rows[start:start + size], batch_rng(EVALUATION_SEED, b, 0))
            outputs = model(**batch)
            total += outputs.loss.item() * len(batch["input_ids"])
            hit = task.hits(outputs, batch)
            hits = None if hit is None else hits + hit
    return total / len(rows), None if hits is None else hits / len(rows)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("prepare")
    a.add_argument("--config", required=True, help="its `task` and `model`")
    a.add_argument("--out", required=True)
    a.add_argument("--seed", type=int, default=0, help="torch seed of the new head")
    a.add_argument("--dropout", type=float, default=0.0, help="both dropout probabilities")
    b = sub.add_parser("train")
    b.add_argument("--config", required=True)
    b.add_argument("--model", required=True)
    b.add_argument("--set", action="append", default=[])
    b.add_argument("--out", required=True)
    b.add_argument("--torch-seed", type=int, default=0,
                   help="torch's seed, which draws its dropout masks")
    b.add_argument("--save", help="save the trained model here (for `bert-train evaluate`)")
    args = p.parse_args()
    prepare(args) if args.command == "prepare" else train(args)


if __name__ == "__main__":
    main()
