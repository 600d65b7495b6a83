"""Writes the seed corpora of the fuzz targets (fuzz/corpus/TARGET/): small valid inputs of each
format, from which libFuzzer mutates. The weights seeds need torch and safetensors:

    ~/.cache/bert-rs/venv-torch/bin/python fuzz/make_corpus.py

torch 2.9.0 and safetensors (scripts/torch-venv.sh); the other seeds need nothing.
"""
import io
import json
import pathlib
import zipfile

HERE = pathlib.Path(__file__).parent / "corpus"


def write(target, name, data):
    path = HERE / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def tokenizer():
    for i, text in enumerate([
        "Hello, world! The quick brown fox.",
        "unaffable [CLS] [MASK] don't",
        "Café naïve résumé ÅNGSTRÖM",
        "北京欢迎你 mixed 日本語 text",
        "tabs\tand\nnewlines\r\nand\u00a0spaces\u200b",
        "supercalifragilisticexpialidocious " * 3,
    ]):
        write("tokenizer", f"seed-{i}", text)


def readers():
    seeds = {
        0: "text,text_pair,label\n\"Hello, world\",pair,positive\nplain,other,negative\n",
        1: "text\ttext_pair\tlabel\nhello\tworld\t1.5\n",
        2: '{"text": "a", "text_pair": "b", "label": 1}\n{"text": "c", "text_pair": "d", "label": "x"}\n',
        3: "-DOCSTART- -X- O O\n\nEU NNP B-ORG\nrejects VBZ O\n\nPeter NNP B-PER\n",
        4: json.dumps({"data": [{"paragraphs": [{"context": "The cat sat.", "qas": [
            {"id": "q1", "question": "Who sat?", "answers": [{"text": "cat", "answer_start": 4}]}]}]}]}),
        5: '{"context": "He opened", "choices": ["the door", "a fish"], "label": 0}\n',
        6: "sent1,sent2,ending0,ending1,label\nHe went,to the,shop,moon,0\n",
        7: "First sentence.\nSecond one.\n\nA new document.\n",
    }
    for pick, text in seeds.items():
        write("readers", f"seed-{pick}", bytes([pick]) + text.encode())


def weights():
    import torch
    from safetensors.torch import save

    tensors = {"bert.embeddings.word_embeddings.weight": torch.arange(12, dtype=torch.float32).reshape(3, 4),
               "classifier.bias": torch.zeros(2, dtype=torch.float16)}
    write("weights", "seed-safetensors", bytes([0]) + save(tensors))
    zipped = io.BytesIO()
    torch.save(tensors, zipped)
    write("weights", "seed-bin-zip", bytes([1]) + zipped.getvalue())
    legacy = io.BytesIO()
    torch.save(tensors, legacy, _use_new_zipfile_serialization=False)
    write("weights", "seed-bin-legacy", bytes([1]) + legacy.getvalue())
    tokenizer_json = {
        "normalizer": {"type": "BertNormalizer", "lowercase": True, "strip_accents": None,
                       "clean_text": True, "handle_chinese_chars": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100,
                  "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "the": 5, "##s": 6}},
        "added_tokens": [{"id": 0, "content": "[PAD]", "special": True}],
    }
    write("weights", "seed-tokenizer-json", bytes([2]) + json.dumps(tokenizer_json).encode())
    assert zipfile.is_zipfile(io.BytesIO(zipped.getvalue()))


def config():
    configs = pathlib.Path(__file__).parent.parent / "configs"
    for path in sorted(configs.glob("*.toml")):
        write("config", f"seed-{path.stem}", path.read_text())
    write("config", "seed-with-set", (configs / "sentiment.toml").read_text()
          + "\n--set\ntraining.learning_rate=3e-5\ndata.max_seq_length=64\n")


if __name__ == "__main__":
    tokenizer()
    readers()
    config()
    weights()
