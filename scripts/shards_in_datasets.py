"""Checks that HF `datasets` reads a folder of bert-data shards (bert_data::shards):
every part file opens with `datasets.Dataset.from_file`, with the three token columns and their
types (and pre-training's `next_sentence_label`, 0 or 1), and prints the rows per file. Needs `pip install datasets` (checked with datasets 5.2.0,
pyarrow 26.0.1).

    python scripts/shards_in_datasets.py SHARD_DIR
"""

import pathlib
import sys

import datasets


def main() -> None:
    folder = pathlib.Path(sys.argv[1])
    parts = sorted(folder.glob("*.arrow"))
    assert parts, f"no .arrow files in {folder}"
    total = 0
    for part in parts:
        dataset = datasets.Dataset.from_file(str(part))
        features = {name: str(feature) for name, feature in dataset.features.items()}
        columns = ["input_ids", "special_tokens_mask", "word_start"]
        assert list(features) in (columns, columns + ["next_sentence_label"]), features
        assert "uint32" in features["input_ids"] and "uint8" in features["word_start"], features
        for row in dataset.select(range(min(len(dataset), 100))):
            n = len(row["input_ids"])
            assert len(row["special_tokens_mask"]) == n and len(row["word_start"]) == n, row
            assert row.get("next_sentence_label", 0) in (0, 1), row
        print(f"{part.name}: {len(dataset)} rows")
        total += len(dataset)
    print(f"{len(parts)} files, {total} rows: datasets {datasets.__version__} reads them")


if __name__ == "__main__":
    main()
