#!/usr/bin/env python3
"""Builds the tokenizer test corpus from real text that Debian and Python ship.

Nobody on this project wrote these texts: licences (/usr/share/common-licenses), Debian package
copyright files and changelogs (/usr/share/doc), translated program messages and country names
in 150+ languages (gettext catalogues under /usr/share/locale), CPython's CJK encoding samples
(Lib/test/cjkencodings) and CPython's documentation topics (pydoc_data).

Every line gets a stable hash; a line whose hash falls in the "fixture" bucket may be picked for
the small committed fixtures, every other line belongs to the held-out corpus, which is never
committed and is rebuilt on each machine. So fixture lines and held-out lines never overlap.

    python3 scripts/tokenizer_corpus.py --heldout OUT.jsonl [--max-lines N]
writes held-out lines as JSONL ({"text": ..., "source": ...}; every fifth record also gets a
"text_pair", the line after it).
"""

import argparse
import gettext
import glob
import gzip
import hashlib
import json
import os
import sys
import sysconfig

FIXTURE_BUCKET = 23  # 1 line in FIXTURE_BUCKET is a fixture candidate


def _lines_of_text(text):
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if line.strip():
            yield line


def _read(path):
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


def _mo_lines(path):
    try:
        with open(path, "rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog
    except Exception:  # a broken or unusual catalogue is skipped, not fatal
        return
    for key in sorted(catalog, key=repr):
        value = catalog[key]
        if key == "" or not isinstance(value, str):
            continue
        yield from _lines_of_text(value)


def sources():
    """Yields (source name, list of files, reader) in a fixed order."""
    stdlib = sysconfig.get_paths()["stdlib"]
    yield "licences", sorted(glob.glob("/usr/share/common-licenses/*")), _read
    yield "debian-copyright", sorted(glob.glob("/usr/share/doc/*/copyright")), _read
    yield "debian-changelog", sorted(glob.glob("/usr/share/doc/*/changelog.Debian.gz")), _read
    yield "cjk-samples", sorted(glob.glob(os.path.join(stdlib, "test/cjkencodings/*-utf8.txt"))), _read
    yield "python-docs", [os.path.join(stdlib, "pydoc_data/topics.py")], _read
    mo = sorted(glob.glob("/usr/share/locale/*/LC_MESSAGES/*.mo"))
    yield "gettext", mo, None


def all_lines():
    """Yields (source, path, line) for every non-blank line of every source."""
    for name, files, reader in sources():
        for path in files:
            if not os.path.isfile(path):
                continue
            lines = _mo_lines(path) if reader is None else _lines_of_text(reader(path))
            for line in lines:
                yield name, path, line


def line_hash(line):
    return int(hashlib.sha1(line.encode("utf-8")).hexdigest()[:12], 16)


def is_fixture_candidate(line):
    return line_hash(line) % FIXTURE_BUCKET == 0


def heldout(max_lines):
    """Distinct held-out lines, spread over the sources, at most max_lines of them."""
    seen = set()
    per_source = {}
    for name, _path, line in all_lines():
        if line in seen or is_fixture_candidate(line):
            continue
        seen.add(line)
        per_source.setdefault(name, []).append(line)
    # Take from each source in turn so that no source crowds the others out.
    chosen = []
    for name in per_source:
        per_source[name].sort(key=line_hash)
    queues = list(per_source.items())
    index = 0
    while len(chosen) < max_lines and any(index < len(q) for _, q in queues):
        for name, q in queues:
            if index < len(q) and len(chosen) < max_lines:
                chosen.append((name, q[index]))
        index += 1
    return chosen


def heldout_records(max_lines):
    """Held-out lines as records {"text", "source"}; every fifth also gets the next line as
    "text_pair", so that pairs are checked too."""
    chosen = heldout(max_lines)
    records = []
    for i, (name, line) in enumerate(chosen):
        record = {"text": line, "source": name}
        if i % 5 == 4 and i + 1 < len(chosen):
            record["text_pair"] = chosen[i + 1][1]
        records.append(record)
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--heldout", required=True, help="output JSONL file")
    parser.add_argument("--max-lines", type=int, default=50000)
    args = parser.parse_args()
    records = heldout_records(args.max_lines)
    with open(args.heldout, "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    counts = {}
    for record in records:
        counts[record["source"]] = counts.get(record["source"], 0) + 1
    print(f"{len(records)} held-out lines: {counts}", file=sys.stderr)


if __name__ == "__main__":
    main()
