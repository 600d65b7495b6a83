#!/usr/bin/env python3
"""PyTorch / transformers reference timings for the Rust BERT benchmark.

What it measures (all on randomly initialised weights built from a
``BertConfig``; nothing is downloaded):

* ``forward-eager`` / ``forward-sdpa``: one ``BertModel`` forward pass in eval
  mode under ``torch.inference_mode()``, with the eager (matmul + softmax)
  attention and with PyTorch's ``scaled_dot_product_attention``. Eager is the
  like-for-like comparison with the Rust implementation.
* ``train-step-eager`` / ``train-step-sdpa``: one full training step of
  ``BertForSequenceClassification`` (num_labels=2) in train mode (dropout
  active): forward with labels -> ``loss.backward()`` ->
  ``clip_grad_norm_(params, 1.0)`` -> ``AdamW(lr=2e-5, weight_decay=0.01)``
  step -> ``zero_grad()``. Weight decay is applied to every parameter (plain
  ``torch.optim.AdamW`` over ``model.parameters()``, no bias/LayerNorm
  exclusion).

Inputs: ``input_ids`` uniform in ``[1000, vocab)`` with shape ``[batch, seq]``
(fixed seed), ``attention_mask`` all ones, ``token_type_ids`` all zeros,
labels uniform in {0, 1}.

Each measurement runs ``--warmup`` untimed iterations followed by ``--iters``
timed ones (``time.perf_counter``; ``torch.cuda.synchronize()`` around each
timed iteration on CUDA) and reports the median / min / mean seconds per
iteration and sequences per second (``batch / median``).

Memory: on CPU, the process peak RSS (``ru_maxrss``, MiB) recorded after the
inference measurements and again after the training measurements (ru_maxrss is
a high-water mark, so the second value includes the first). On CUDA,
``torch.cuda.max_memory_allocated`` per measurement (reset before each).

Usage::

    $(scripts/torch-venv.sh)/bin/python scripts/bench_torch.py --config minilm \\
        --batch 8 --seq 128 --threads 2 --warmup 2 --iters 5 --out torch.json

    $(scripts/torch-venv.sh)/bin/python scripts/bench_torch.py --config base \\
        --device cuda --out torch-base-cuda.json

The JSON result is always printed to stdout and, with ``--out``, also written
to that file.
"""

import argparse
import gc
import json
import platform
import resource
import statistics
import sys
import time

import torch
import transformers
from transformers import BertConfig, BertForSequenceClassification, BertModel

SEED = 1234


def make_config(name, attn_implementation):
    """BertConfig for the named preset with the requested attention kernel."""
    if name == "base":
        # transformers' defaults are BERT-base: 12 layers, hidden 768, 12 heads,
        # intermediate 3072, vocab 30522.
        cfg = BertConfig(attn_implementation=attn_implementation)
    elif name == "minilm":
        cfg = BertConfig(
            hidden_size=384,
            num_hidden_layers=6,
            num_attention_heads=12,
            intermediate_size=1536,
            vocab_size=30522,
            attn_implementation=attn_implementation,
        )
    else:
        raise ValueError(f"unknown config {name!r}")
    return cfg


def check_attn(model, wanted):
    """Fail loudly if transformers silently picked another attention kernel."""
    got = model.config._attn_implementation
    if got != wanted:
        raise RuntimeError(f"asked for attn_implementation={wanted!r}, model uses {got!r}")


def make_inputs(vocab_size, batch, seq, device):
    gen = torch.Generator().manual_seed(SEED)
    input_ids = torch.randint(1000, vocab_size, (batch, seq), generator=gen, dtype=torch.long)
    labels = torch.randint(0, 2, (batch,), generator=gen, dtype=torch.long)
    attention_mask = torch.ones(batch, seq, dtype=torch.long)
    token_type_ids = torch.zeros(batch, seq, dtype=torch.long)
    return {
        "input_ids": input_ids.to(device),
        "attention_mask": attention_mask.to(device),
        "token_type_ids": token_type_ids.to(device),
        "labels": labels.to(device),
    }


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_loop(step, warmup, iters, device):
    """Run `step` warmup times untimed, then iters times timed; return seconds list."""
    for _ in range(warmup):
        step()
    sync(device)
    times = []
    for _ in range(iters):
        sync(device)
        t0 = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times


def summarise(name, times, batch):
    median = statistics.median(times)
    return {
        "name": name,
        "median_s": median,
        "min_s": min(times),
        "mean_s": statistics.fmean(times),
        "seq_per_s": batch / median,
        "iters": len(times),
    }


def bench_matmuls(args, device):
    """The dense layers' f32 matmuls alone, as `bert-train bench --matmul` times them: the
    forward's `x @ w`, and the backward's `g @ w.T` (input gradient) and `x.T @ g` (weight
    gradient) on transposed views."""
    cfg = make_config(args.config, "eager")
    h, i, rows = cfg.hidden_size, cfg.intermediate_size, args.batch * args.seq
    results = []
    for inner, out in [(h, h), (h, i), (i, h)]:
        x = torch.rand(rows, inner, device=device)
        w = torch.rand(inner, out, device=device)
        g = torch.rand(rows, out, device=device)
        products = [(f"matmul-{rows}x{inner}x{out}", x, w),
                    (f"matmul-dx-{rows}x{out}x{inner}", g, w.t()),
                    (f"matmul-dw-{inner}x{rows}x{out}", x.t(), g)]
        for name, a, b in products:
            with torch.inference_mode():
                times = time_loop(lambda: a @ b, args.warmup, max(args.iters, 10), device)
            res = summarise(name, times, 1)
            res["gflop_per_s"] = 2 * rows * inner * out / res["median_s"] / 1e9
            results.append(res)
    return results


def max_rss_mib():
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS reports bytes.
    if sys.platform == "darwin":
        return rss / (1024 * 1024)
    return rss / 1024


def bench_forward(args, attn, inputs, device):
    torch.manual_seed(SEED)
    model = BertModel(make_config(args.config, attn)).to(device)
    check_attn(model, attn)
    model.eval()
    feed = {k: inputs[k] for k in ("input_ids", "attention_mask", "token_type_ids")}

    def step():
        with torch.inference_mode():
            out = model(**feed)
        return out.last_hidden_state

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = time_loop(step, args.warmup, args.iters, device)
    res = summarise(f"forward-{attn}", times, args.batch)
    if device.type == "cuda":
        res["cuda_max_allocated_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    del model
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return res


def bench_train(args, attn, inputs, device):
    torch.manual_seed(SEED)
    cfg = make_config(args.config, attn)
    cfg.num_labels = 2
    model = BertForSequenceClassification(cfg).to(device)
    check_attn(model, attn)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-5, weight_decay=0.01)
    losses = []

    phases = []

    def step():
        # Seconds of each phase (forward, backward, clipping, optimizer), as `bert-train bench`
        # reports them; on CUDA the device is synchronised between phases.
        laps = [time.perf_counter()]

        def lap():
            sync(device)
            laps.append(time.perf_counter())
        out = model(**inputs)
        lap()
        out.loss.backward()
        lap()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        lap()
        opt.step()
        opt.zero_grad()
        lap()
        phases.append([b - a for a, b in zip(laps, laps[1:])])
        # Keep the loss as a tensor so we do not add a host sync inside the loop.
        losses.append(out.loss.detach())

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = time_loop(step, args.warmup, args.iters, device)
    res = summarise(f"train-step-{attn}", times, args.batch)
    timed = phases[len(phases) - len(times):]
    for i, name in enumerate(["forward", "backward", "clip", "optimizer"]):
        res[f"{name}_median_s"] = statistics.median(p[i] for p in timed)
    # Loss of every step run (warmup steps first), as a sanity check that training ran.
    res["losses"] = [float(l) for l in losses]
    if device.type == "cuda":
        res["cuda_max_allocated_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    del model, opt, params
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return res


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", choices=["base", "minilm"], default="base")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--out", help="also write the JSON result to this file")
    p.add_argument("--matmul", action="store_true",
                   help="also time the dense layers' matmuls alone (GFLOP/s)")
    args = p.parse_args(argv)
    if args.iters < 1:
        p.error("--iters must be >= 1")
    if args.warmup < 0:
        p.error("--warmup must be >= 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda requested but torch.cuda.is_available() is False")
    device = torch.device(args.device)

    vocab = make_config(args.config, "eager").vocab_size
    if args.seq > make_config(args.config, "eager").max_position_embeddings:
        sys.exit(f"--seq {args.seq} exceeds max_position_embeddings")
    inputs = make_inputs(vocab, args.batch, args.seq, device)

    results = bench_matmuls(args, device) if args.matmul else []
    for attn in ("eager", "sdpa"):
        results.append(bench_forward(args, attn, inputs, device))
        print(f"[bench_torch] {results[-1]['name']}: {results[-1]['median_s']:.4f} s", file=sys.stderr)
    rss_after_inference = max_rss_mib()
    for attn in ("eager", "sdpa"):
        results.append(bench_train(args, attn, inputs, device))
        print(f"[bench_torch] {results[-1]['name']}: {results[-1]['median_s']:.4f} s", file=sys.stderr)
    rss_after_train = max_rss_mib()

    report = {
        "framework": "pytorch",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "device": args.device,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "config": args.config,
        "batch": args.batch,
        "seq": args.seq,
        "warmup": args.warmup,
        "iters": args.iters,
        "results": results,
        "max_rss_mib": rss_after_train,
        "max_rss_after_inference_mib": rss_after_inference,
        "max_rss_after_train_mib": rss_after_train,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
