"""Scores masked-LM models on the same mask draws, so that two sides' perplexities differ only
by their training and not by which tokens the evaluation happened to mask.

    python mlm_eval.py --config configs/lee-mlm.toml [--set KEY=VALUE ...] [--draws 20]
        LABEL=MODEL_DIR [LABEL=MODEL_DIR ...]

Each model directory is in transformers' layout (bert-train's `model/` output, or the `model/`
that hf_trainer.py saves for masked LM). The validation blocks are hf_trainer.py's (run_mlm's
packing); draw d masks them with DataCollatorForLanguageModeling under torch seed d (15%, the
80/10/10 rule), and every model sees the very same masked blocks. The loss is the mean cross
entropy over all masked tokens of all draws, dropout off; perplexity = exp(loss). Prints one
JSON object per model, with the loss of each draw.
"""

import argparse
import json
import math

import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling

import hf_trainer


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--draws", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("models", nargs="+", metavar="LABEL=MODEL_DIR")
    return p.parse_args()


def masked_batches(config, tokenizer, draws, batch_size):
    """The validation blocks, masked `draws` times: a list of (draw, batch) pairs."""
    _, splits = hf_trainer.mlm_data(config, tokenizer)
    blocks = [splits["validation"][i] for i in range(len(splits["validation"]))]
    collator = DataCollatorForLanguageModeling(
        tokenizer, mlm_probability=config["data"].get("mlm_probability", 0.15))
    batches = []
    for draw in range(draws):
        torch.manual_seed(draw)
        for start in range(0, len(blocks), batch_size):
            batch = collator([dict(b) for b in blocks[start:start + batch_size]])
            batch.pop("special_tokens_mask", None)
            batches.append((draw, batch))
    return batches, len(blocks)


@torch.no_grad()
def score(model_dir, batches, draws):
    """Summed cross entropy and correct predictions over the masked tokens, per draw."""
    model = AutoModelForMaskedLM.from_pretrained(model_dir).eval()
    loss = [0.0] * draws
    correct = [0] * draws
    count = [0] * draws
    for draw, batch in batches:
        labels = batch["labels"]
        inputs = {name: value for name, value in batch.items() if name != "labels"}
        hidden = model.bert(**inputs).last_hidden_state
        chosen = labels != -100
        # The vocabulary head only at the masked positions: the same logits, less work.
        logits = model.cls(hidden[chosen])
        gold = labels[chosen]
        loss[draw] += torch.nn.functional.cross_entropy(logits, gold, reduction="sum").item()
        correct[draw] += int((logits.argmax(-1) == gold).sum())
        count[draw] += int(chosen.sum())
    return loss, correct, count


def main():
    args = parse_args()
    torch.set_num_threads(2)
    config = hf_trainer.load_config(args.config, args.set)
    first = args.models[0].split("=", 1)[1]
    tokenizer = AutoTokenizer.from_pretrained(first)
    batches, blocks = masked_batches(config, tokenizer, args.draws, args.batch_size)
    for item in args.models:
        label, model_dir = item.split("=", 1)
        loss, correct, count = score(model_dir, batches, args.draws)
        mean = sum(loss) / sum(count)
        print(json.dumps({
            "model": label,
            "dir": model_dir,
            "blocks": blocks,
            "draws": args.draws,
            "masked_tokens": sum(count),
            "loss": mean,
            "perplexity": math.exp(mean),
            "accuracy": sum(correct) / sum(count),
            "loss_per_draw": [round(l / c, 4) for l, c in zip(loss, count)],
        }))


if __name__ == "__main__":
    main()
