"""Step time and scaling efficiency of data-parallel BERT-base on N nodes, on paper.

    python3 experiments/scaling/paper.py STEP_SECONDS [STAGING_SECONDS] [GRADIENT_MB]

STEP_SECONDS is one node's compute time for its share of a step (forward, backward, update;
measured by experiments/scaling/run.sh), STAGING_SECONDS the time this loop spends laying the
gradients out in one host buffer and back (measured: the exchange time minus the bare
all-reduce), GRADIENT_MB the gradients summed each step (BERT-base: 440 MB of f32). A ring all-reduce sends and receives 2 (N - 1) / N of the
buffer per node; the step then takes compute + transfer, since this loop does not overlap the
exchange with the backward pass (torch DDP does, bucket by bucket). Link efficiency is taken
as 1: real links reach 80-90% of line rate, which the table does not subtract.
"""

import sys


def main() -> None:
    compute = float(sys.argv[1])
    staging = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    megabytes = float(sys.argv[3]) if len(sys.argv) > 3 else 440.0
    print("| nodes | link | all-reduce (s) | step (s) | efficiency |")
    print("|---|---|---|---|---|")
    for gbits in (25, 100):
        for nodes in (4, 16, 64):
            moved = 2 * (nodes - 1) / nodes * megabytes * 1e6
            transfer = moved / (gbits * 1e9 / 8)
            step = compute + staging + transfer
            print(f"| {nodes} | {gbits} Gb/s | {transfer:.3f} | {step:.3f} | {compute / step:.0%} |")


if __name__ == "__main__":
    main()
