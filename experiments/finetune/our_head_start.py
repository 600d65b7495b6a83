"""Writes a replay start (`replay.py prepare`'s DIR/model) whose question-answering head holds
the draw bert-train made for a seed from 23c3ac6 until session 19 (a record for RESULTS parts
7-9; bert-train now draws a new head from PyTorch's generator, the values transformers draws):
`trainer::init_seed` (SplitMix64 of seed ^ a constant), then
`ParamSource::linear`'s Box-Muller normals times initializer_range 0.02, laid out [out, in];
the bias zero. Both sides can then train from the head bert-train would draw.

    python our_head_start.py SRC_MODEL_DIR DEST_MODEL_DIR SEED
"""
import math
import os
import shutil
import sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(__file__))
from replay import SplitMix64  # noqa: E402

INIT_STREAM = 0x494E49545F484541


def our_head(seed, rows=2, cols=384, std=0.02):
    stream = SplitMix64(SplitMix64(seed ^ INIT_STREAM).next_u64())
    values = []
    for _ in range(rows * cols):
        u1 = ((stream.next_u64() >> 11) + 1.0) / float(1 << 53)
        u2 = ((stream.next_u64() >> 11) + 1.0) / float(1 << 53)
        values.append(math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2) * std)
    return torch.tensor(values, dtype=torch.float32).reshape(rows, cols)


def main():
    src, dest, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    shutil.copytree(src, dest, dirs_exist_ok=True)
    tensors = load_file(os.path.join(src, "model.safetensors"))
    if "qa_outputs.weight" in tensors:
        rows, cols = tensors["qa_outputs.weight"].shape
    else:  # a checkpoint without the head (all-MiniLM-L6-v2 itself): start and end, hidden size
        rows, cols = 2, tensors["embeddings.word_embeddings.weight"].shape[1]
    tensors["qa_outputs.weight"] = our_head(seed, rows, cols)
    tensors["qa_outputs.bias"] = torch.zeros(rows)
    save_file(tensors, os.path.join(dest, "model.safetensors"), metadata={"format": "pt"})
    print("wrote", dest)


if __name__ == "__main__":
    main()
