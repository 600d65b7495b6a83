"""Sums a flat `perf report --sort dso,sym` profile by kind of work.

    python3 buckets.py PROFILE.txt

Each symbol goes to the first bucket whose pattern it matches (case-insensitive), else `other`;
prints the share of samples per bucket and the largest symbols of `other`, so that the patterns
can be checked against what the profile holds.
"""

import re
import sys
from collections import defaultdict

BUCKETS = [
    ("matmul (gemm crate: kernels and packing)", r"gemm"),
    ("random numbers (dropout masks; weight init)",
     r"rand|bernoulli|chacha|sampler|LocalKey|__cos|__sin|ieee754_log|^log@@"),
    ("GELU (erf)", r"gelu|erf"),
    ("softmax (exp)", r"softmax|expf|\bexp\b"),
    ("LayerNorm", r"layer_norm|layernorm"),
    ("memcpy / memmove", r"memcpy|memmove"),
    ("fresh memory (memset, page faults, malloc/free)",
     r"memset|clear_page|page_fault|handle_mm_fault|do_anonymous|mmap|munmap|malloc|_int_free|"
     r"cfree|alloc_pages|alloc_frozen|unmap_page|mas_walk|memcg|charge|list_del|lru|folio|"
     r"zap_|free_pages|free_unref"),
    ("reductions (sum, mean, max)", r"reduce|sum_|_sum|mean|argmax"),
    ("copies and layout (permute, gather, select)",
     r"copy|permute|transpose|contiguous|strided|gather|select|scatter|slice|expand|index"),
    ("element-wise (SIMD binary/unary ops, maps)",
     r"macerator|binary|unary|scalar_op|zip|from_iter|map|powf|sqrt|tanh|mask"),
    ("threads (rayon, scheduling)", r"rayon|crossbeam|futex|sched|spin|yield|park|steal"),
]


def parse(path):
    rows = []
    for line in open(path):
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(3), m.group(4).strip()))
    return rows


def bucket(dso, kind, symbol):
    if kind == "k" and not re.search(r"page|clear|memset|zero|fault", symbol, re.I):
        return "kernel (other)"
    for name, pattern in BUCKETS:
        if re.search(pattern, symbol, re.I):
            return name
    return "other"


def main():
    rows = parse(sys.argv[1])
    totals, other = defaultdict(float), []
    for share, dso, kind, symbol in rows:
        name = bucket(dso, kind, symbol)
        totals[name] += share
        if name == "other":
            other.append((share, symbol))
    print("| work | share of samples |")
    print("|---|---|")
    for name, share in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {share:.1f}% |")
    print(f"| (below the report's 0.05% cut) | {100 - sum(totals.values()):.1f}% |")
    for share, symbol in sorted(other, reverse=True)[:8]:
        print(f"  other: {share:.2f}% {symbol[:110]}")


if __name__ == "__main__":
    main()
