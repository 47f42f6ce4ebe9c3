#!/usr/bin/env python3
"""Compressed JSON Lines fixtures for tests/io/corpus_test.cpp (io/corpus.cpp's gzip and zstd
readers). Needs python3 (gzip module) and the zstd command-line tool (Debian: zstd).

    python3 tests/reference/make_corpus_fixtures.py

Writes, in tests/fixtures/corpus/:
  compressed/docs.jsonl       the plain reference (BOM, CRLF, a blank line, a non-ASCII text)
  compressed/docs.jsonl.gz    the same bytes as two gzip members, split inside a line
  compressed/docs.jsonl.zst   the same bytes as two zstd frames, split inside a line
  bad/truncated.jsonl.gz      docs.jsonl.gz without its last 9 bytes (the CRC and size trailer)
  bad/truncated.jsonl.zst     docs.jsonl.zst without its last 5 bytes
  bad/corrupt.jsonl.gz        docs.jsonl.gz with byte 30 flipped
"""
import gzip
import os
import subprocess

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "corpus")
comp = os.path.join(root, "compressed")
bad = os.path.join(root, "bad")
os.makedirs(comp, exist_ok=True)

lines = [
    '\ufeff{"text": "first document", "id": 1}',
    '{"text": "caf\\u00e9 \u2014 second"}\r',
    '',
    '{"text": "third: ' + 'x' * 200 + '"}',
    '{"id": 4, "text": ""}',
    '{"text": "last line without a newline"}',
]
data = "\n".join(lines).encode("utf-8")
split = 50  # inside the second line: members / frames need not end at a line end

with open(os.path.join(comp, "docs.jsonl"), "wb") as f:
    f.write(data)

gz = gzip.compress(data[:split], mtime=0) + gzip.compress(data[split:], mtime=0)
with open(os.path.join(comp, "docs.jsonl.gz"), "wb") as f:
    f.write(gz)


def zstd(chunk):
    return subprocess.run(["zstd", "-q", "-c", "-19", "--no-check"], input=chunk,
                          stdout=subprocess.PIPE, check=True).stdout


zst = zstd(data[:split]) + zstd(data[split:])
with open(os.path.join(comp, "docs.jsonl.zst"), "wb") as f:
    f.write(zst)

with open(os.path.join(bad, "truncated.jsonl.gz"), "wb") as f:
    f.write(gz[:-9])
with open(os.path.join(bad, "truncated.jsonl.zst"), "wb") as f:
    f.write(zst[:-5])
corrupt = bytearray(gz)
corrupt[30] ^= 0xFF
with open(os.path.join(bad, "corrupt.jsonl.gz"), "wb") as f:
    f.write(bytes(corrupt))
print("wrote", len(data), "bytes as", len(gz), "gzip and", len(zst), "zstd bytes")
