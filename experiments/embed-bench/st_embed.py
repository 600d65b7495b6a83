"""The reference side of experiments/embed-bench: sentence-transformers' `encode` over the
`text` of each line of a JSONL file, written back as JSONL with `embedding`, as
`bert-train embed` does. Prints the seconds of the whole job, of `encode` alone, of loading the
SentenceTransformer and of transformers' `AutoModel.from_pretrained` on the same directory.

    python st_embed.py --model DIR --input IN.jsonl --output OUT.jsonl --batch-size 32
"""
import argparse
import json
import time

start = time.perf_counter()
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args()
    rows = [json.loads(line) for line in open(args.input, encoding="utf-8") if line.strip()]
    load_start = time.perf_counter()
    model = SentenceTransformer(args.model, device="cpu")
    load_seconds = time.perf_counter() - load_start
    encode_start = time.perf_counter()
    vectors = model.encode([r["text"] for r in rows], batch_size=args.batch_size)
    encode_seconds = time.perf_counter() - encode_start
    with open(args.output, "w", encoding="utf-8") as f:
        for row, vector in zip(rows, vectors):
            f.write(json.dumps({**row, "embedding": vector.tolist()}) + "\n")
    total_seconds = time.perf_counter() - start
    from transformers import AutoModel

    start_hf = time.perf_counter()
    AutoModel.from_pretrained(args.model)
    from_pretrained_seconds = time.perf_counter() - start_hf
    print(json.dumps({"texts": len(rows), "encode_seconds": encode_seconds,
                      "load_seconds": load_seconds,
                      "from_pretrained_seconds": from_pretrained_seconds,
                      "total_seconds": total_seconds,
                      "torch_threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
