#!/usr/bin/env python3
"""Writes the seed corpora of the CSV, image, JSON and tokenizer fuzz targets
(tests/fuzz/{csv,image,json,tokenizer}_corpus/seed_*), each input a case the
reader must handle: valid ones of every kind it reads, and the hostile ones
docs/bad_input.md lists. Standard library only; the two JPEG seeds
(image_corpus/seed_*.jpg) were written by stb_image_write and are kept as files.

    python3 tests/fuzz/make_fuzz_corpora.py
"""
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(corpus, name, data):
    folder = os.path.join(HERE, corpus + "_corpus")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "seed_" + name), "wb") as out:
        out.write(data.encode("utf-8") if isinstance(data, str) else data)


def png(width, height, raw, color_type=2, depth=8):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def rows(width, height, channels, depth=8, filter_byte=0):
    row = bytes([filter_byte]) + bytes((x * 29 + 7) % 256 for x in range(width * channels * depth // 8))
    return row * height


def bmp(width, height):
    stride = (width * 3 + 3) // 4 * 4
    pixels = b"".join(bytes((x * 40 + y * 9) % 256 for x in range(width * 3)).ljust(stride, b"\0") for y in range(height))
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + len(pixels), 0, 0, 54) + info + pixels


def csv_seeds():
    write("csv", "train", ",image,caption\nimages/a.png,a photo of a cat.\nimages/b.png,a dog\n")
    write("csv", "quoted_crlf", ',image,caption,label\r\n"a,b.png","say ""hi""\r\nthere",3\r\n')
    write("csv", "semicolon_bom", ";\ufeffimage;label\nx.png;0\n\ny.png;1")
    write("csv", "bad_unterminated", ',image,caption\nx.png,"never closed\n')
    write("csv", "bad_stray_quote", ',image,caption\nx.png,a "quote" inside\n')
    write("csv", "bad_width", ",image,caption\nx.png\n")
    write("csv", "bad_duplicate_header", ",image,image\nx,y\n")
    write("csv", "bad_delimiter_quote", '"image"caption\n')


def image_seeds():
    write("image", "rgb.png", png(5, 4, rows(5, 4, 3)))
    write("image", "gray.png", png(3, 2, rows(3, 2, 1), color_type=0))
    write("image", "rgba_paeth.png", png(4, 4, rows(4, 4, 4, filter_byte=4), color_type=6))
    write("image", "rgb16.png", png(2, 3, rows(2, 3, 3, depth=16), depth=16))
    write("image", "tall.png", png(1, 90, rows(1, 90, 3)))
    write("image", "rgb.bmp", bmp(6, 3))
    write("image", "bad_huge_header.png", png(10000, 10000, rows(1, 1, 3)))
    write("image", "bad_zlib_bomb.png", png(1, 1, b"\0" * (4 << 20)))
    write("image", "bad_strip.png", png(1, 2000, rows(1, 2000, 3)))
    write("image", "bad_gif.gif", b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xff\xff\xff,\0\0\0\0\x01\0\x01\0\0\x02\x02\x44\x01\0;")
    write("image", "bad_ppm.ppm", b"P6\n2 2\n255\n" + b"\x7f" * 12)
    write("image", "bad_truncated.png", png(5, 4, rows(5, 4, 3))[:60])


def json_seeds():
    write("json", "classes", json.dumps({"classes": ["t-shirt", "ankle boot"], "templates": ["a photo of a {}."]}))
    write("json", "classes_no_templates", '{"classes": ["cat", "dog"]}')
    config = {"embed_dim": 64, "image_resolution": 28, "vision_layers": 4, "vision_width": 128,
              "vision_patch_size": 4, "context_length": 77, "vocab_size": 49408, "transformer_width": 128,
              "transformer_heads": 2, "transformer_layers": 4, "activation": "quick_gelu", "eos_token_id": -1}
    write("json", "clip_config_vit", json.dumps(config))
    write("json", "clip_config_rn", json.dumps(dict(config, vision_layers=[1, 1, 1, 1], vision_patch_size=None,
                                                    image_resolution=64, vision_width=16)))
    with open(os.path.join(HERE, "..", "fixtures", "hf_tiny", "config.json"), "rb") as hf:
        write("json", "hf_config", hf.read())
    write("json", "bad_eos", json.dumps(dict(config, eos_token_id=10**9)))
    write("json", "bad_deep", "[" * 100 + "]" * 100)
    write("json", "bad_duplicate_classes", '{"classes": ["cat", "cat"]}')
    write("json", "bad_two_slots", '{"classes": ["cat"], "templates": ["{} and {}"]}')
    write("json", "bad_truncated", '{"classes": ["cat", ')


def tokenizer_seeds():
    write("tokenizer", "plain", "\x4ca photo of a cat.")
    write("tokenizer", "mojibake", "\x4ccafÃ© costs â‚¬5 â€” “fine”")
    write("tokenizer", "no_ftfy", "\x4dcafÃ© &amp; ﬁsh")
    write("tokenizer", "wide_emoji", "\x20Ｈｅｌｌｏ 😀👍🏽 naïve\u0301")
    write("tokenizer", "long", "\x02" + "supercalifragilistic " * 40)
    write("tokenizer", "bad_utf8", b"\x4ca \xff\xfe caption \xc3")


if __name__ == "__main__":
    csv_seeds()
    image_seeds()
    json_seeds()
    tokenizer_seeds()
