#!/usr/bin/env python3
"""Formats the JSON of scripts/bench_torch.py and `bert-train bench` as one markdown table."""

import argparse
import datetime
import json
import platform
import subprocess


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("torch_json")
    parser.add_argument("rust_json", nargs="+",
                        help="`bert-train bench` results: FILE or LABEL=FILE (one row set each)")
    parser.add_argument("--command", default="")
    args = parser.parse_args()
    torch = json.load(open(args.torch_json))
    runs = [(None, j) if "=" not in j else tuple(j.split("=", 1)) for j in args.rust_json]
    ref = {r["name"]: r for r in torch["results"]}
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"\n## {torch['config']}, batch {torch['batch']} x {torch['seq']}, "
          f"{datetime.date.today().isoformat()}\n")
    print(f"Command: `{args.command}`  ")
    print(f"Machine: {cpu}, {torch.get('threads')} threads for torch; {rustc}; "
          f"torch {torch['torch']}, transformers {torch['transformers']}; "
          f"median of {torch.get('iters')} timed iterations after {torch.get('warmup')} warm-up.\n")
    print("| implementation | forward s | forward seq/s | vs torch eager | train step s | "
          "train seq/s | vs torch eager | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")

    def row(name, fwd, train, rss):
        def cell(r, base):
            if r is None:
                return "-", "-", "-"
            ratio = base["median_s"] / r["median_s"] if base else None
            return (f"{r['median_s']:.3f}", f"{r['seq_per_s']:.2f}",
                    f"{ratio:.2f}x" if ratio else "-")
        f = cell(fwd, ref.get("forward-eager"))
        t = cell(train, ref.get("train-step-eager"))
        print(f"| {name} | {f[0]} | {f[1]} | {f[2]} | {t[0]} | {t[1]} | {t[2]} | "
              f"{rss if rss is not None else '-'} |")

    for attn in ["eager", "sdpa"]:
        row(f"PyTorch {torch['device']} ({attn} attention)", ref.get(f"forward-{attn}"),
            ref.get(f"train-step-{attn}"), f"{torch.get('max_rss_mib', 0):.0f}" if attn == "eager" else None)
    for label, path in runs:
        for dev in json.load(open(path))["devices"]:
            results = {r["name"]: r for r in dev["results"]}
            rss = dev.get("max_rss_mib")
            name = f"ours ({label})" if label else "ours"
            row(f"{name}, --device {dev['device']}", results.get("forward"),
                results.get("train-step"), f"{rss:.0f}" if rss else None)
    matmuls = [r for r in torch["results"] if r["name"].startswith("matmul-")]
    if matmuls:
        print("\n| matmul (dense layer) | PyTorch GFLOP/s | " + " | ".join(
            f"ours{' (' + label + ')' if label else ''} GFLOP/s" for label, _ in runs) + " |")
        print("|---|---|" + "---|" * len(runs))
        ours = [{r["name"]: r for d in json.load(open(path))["devices"][:1] for r in d["results"]}
                for _, path in runs]
        for m in matmuls:
            cells = [f"{o[m['name']]['gflop_per_s']:.1f}" if m["name"] in o else "-" for o in ours]
            print(f"| {m['name'][7:]} | {m['gflop_per_s']:.1f} | " + " | ".join(cells) + " |")
    phase_rows = [(f"PyTorch ({attn})", ref.get(f"train-step-{attn}")) for attn in ["eager", "sdpa"]]
    for label, path in runs:
        for dev in json.load(open(path))["devices"]:
            results = {r["name"]: r for r in dev["results"]}
            name = f"ours ({label})" if label else "ours"
            phase_rows.append((f"{name}, --device {dev['device']}", results.get("train-step")))
    phase_rows = [(n, r) for n, r in phase_rows if r and "optimizer_median_s" in r]
    if phase_rows:
        names = ["forward", "backward", "clip", "optimizer"]
        print("\n| training step, by phase (median s) | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        for n, r in phase_rows:
            print(f"| {n} | " + " | ".join(f"{r[f'{p}_median_s']:.3f}" for p in names) + " |")
    print("\n`vs torch eager` is PyTorch's time divided by ours: above 1 means we are faster. "
          "Peak RSS is the whole process's high-water mark (ours: all devices so far).")


if __name__ == "__main__":
    main()
