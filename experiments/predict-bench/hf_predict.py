"""The reference side of experiments/predict-bench: transformers' `pipeline` over the `text` of
each line of a JSONL file, batch by batch, the outputs written back as JSONL, as
`bert-train predict` does. Prints the seconds of the whole job (imports included) and of the
pipeline call alone.

    python hf_predict.py prepare --task text-classification --out DIR
        all-MiniLM-L6-v2 with a seeded new head (2 labels, or the tweet NER's 21 BIO tags for
        token-classification), saved with its tokenizer: the model both sides load.
    python hf_predict.py run --task text-classification --model DIR --input IN.jsonl \
        --output OUT.jsonl --batch-size 32
"""
import argparse
import json
import time

start = time.perf_counter()
import torch  # noqa: E402
from transformers import (AutoModelForSequenceClassification,  # noqa: E402
                          AutoModelForTokenClassification, AutoTokenizer, pipeline)

NER_TYPES = ["company", "facility", "geo-loc", "movie", "musicartist", "other", "person",
             "product", "sportsteam", "tvshow"]
NER_TAGS = ["O"] + [f"{bio}-{kind}" for kind in NER_TYPES for bio in "BI"]


def prepare(args):
    torch.manual_seed(0)
    if args.task == "token-classification":
        labels = NER_TAGS
        head = AutoModelForTokenClassification
    else:
        labels = ["negative", "positive"]
        head = AutoModelForSequenceClassification
    model = head.from_pretrained(args.source, num_labels=len(labels),
                                 id2label=dict(enumerate(labels)),
                                 label2id={label: i for i, label in enumerate(labels)})
    model.save_pretrained(args.out)
    AutoTokenizer.from_pretrained(args.source).save_pretrained(args.out)
    print(f"wrote {args.out}")


def run(args):
    rows = [json.loads(line) for line in open(args.input, encoding="utf-8") if line.strip()]
    options = {"aggregation_strategy": "simple"} if args.task == "token-classification" else {}
    pipe = pipeline(args.task, model=args.model, device=-1, batch_size=args.batch_size, **options)
    call_start = time.perf_counter()
    outputs = pipe([r["text"] for r in rows])
    call_seconds = time.perf_counter() - call_start
    with open(args.output, "w", encoding="utf-8") as f:
        for row, out in zip(rows, outputs):
            f.write(json.dumps({**row, "prediction": out}, default=float) + "\n")
    print(json.dumps({"task": args.task, "texts": len(rows), "pipeline_seconds": call_seconds,
                      "total_seconds": time.perf_counter() - start,
                      "torch_threads": torch.get_num_threads()}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("prepare")
    a.add_argument("--task", required=True)
    a.add_argument("--source", required=True)
    a.add_argument("--out", required=True)
    b = sub.add_parser("run")
    b.add_argument("--task", required=True)
    b.add_argument("--model", required=True)
    b.add_argument("--input", required=True)
    b.add_argument("--output", required=True)
    b.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args()
    prepare(args) if args.command == "prepare" else run(args)


if __name__ == "__main__":
    main()
