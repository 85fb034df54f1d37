#!/usr/bin/env python3
"""Writes the safetensors fuzz seed corpus (tests/fuzz/safetensors_corpus/seed_*).

Written by hand from the format spec, not by clipgrad's writer, so the seeds
also cross-check the reader against an independent encoder. Files that the
fuzzer found (crash-*, or minimised regressions) live beside them and are kept.
"""
import json
import os
import struct

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "safetensors_corpus")


def safetensors(entries, metadata=None, pad=True, length=None, tail=b""):
    """entries: list of (name, dtype, shape, raw bytes), laid out in order."""
    header, data = {}, b""
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text) if length is None else length) + text + data + tail


def raw(header_text, data=b"", length=None):
    text = header_text.encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + data


every_dtype = [
    ("bf16", "BF16", [2], struct.pack("<2H", 0x3F80, 0x7FC0)),
    ("bool", "BOOL", [3], bytes([0, 1, 1])),
    ("f16", "F16", [2, 2], struct.pack("<4H", 0x3C00, 0x0001, 0x7C00, 0xFE00)),
    ("f32", "F32", [2], struct.pack("<2f", 1.5, -2.0)),
    ("f64", "F64", [], struct.pack("<d", 3.25)),
    ("i32", "I32", [1, 2], struct.pack("<2i", -7, 2**31 - 1)),
    ("i64", "I64", [2], struct.pack("<2q", -(2**31), 12)),
    ("u8", "U8", [0, 4], b""),
]

seeds = {
    "seed_valid_every_dtype": safetensors(every_dtype, {"format": "pt", "clip_config": '{"embed_dim": 32}'}),
    "seed_valid_empty": safetensors([]),
    "seed_valid_unpadded_unaligned": safetensors(
        [("logit_scale", "F32", [], struct.pack("<f", 2.659)), ("w", "F32", [2], struct.pack("<2f", 0.5, 0.25))],
        pad=False),
    "seed_valid_gap": raw('{"a":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}  ', b"\x09" * 4 + b"\x01\x02"),
    "seed_bad_truncated_length": b"\x10\x00\x00",
    "seed_bad_length_past_file": raw("{}", length=4096),
    "seed_bad_huge_length": raw("{}", length=2**63),
    "seed_bad_json": raw('{"a": {"dtype": "F32", "shape": [1], '),
    "seed_bad_not_object": raw("[1,2,3]"),
    "seed_bad_overlap": raw(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
        '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', b"\x00" * 12),
    "seed_bad_unknown_dtype": raw('{"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}', b"\x00" * 2),
    "seed_bad_shape_span": raw('{"a":{"dtype":"F32","shape":[64,32],"data_offsets":[0,16]}}', b"\x00" * 16),
    "seed_bad_huge_shape": raw(
        '{"a":{"dtype":"F64","shape":[4611686018427387904,4],"data_offsets":[0,8]}}', b"\x00" * 8),
    "seed_bad_negative_shape": raw('{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', b"\x00"),
    "seed_bad_i64_range": raw('{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}', struct.pack("<q", 2**40)),
    "seed_bad_truncated_data": safetensors([("w", "F32", [4], struct.pack("<4f", 1, 2, 3, 4))])[:-3],
    "seed_bad_metadata": raw('{"__metadata__":{"format":["pt"]}}'),
}

os.makedirs(CORPUS, exist_ok=True)
for name, content in seeds.items():
    with open(os.path.join(CORPUS, name), "wb") as out:
        out.write(content)
print(f"wrote {len(seeds)} seeds to {CORPUS}")
