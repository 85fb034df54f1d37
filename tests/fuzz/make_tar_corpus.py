#!/usr/bin/env python3
"""Writes the tar reader's fuzz seed corpus (tests/fuzz/tar_corpus/seed_*).

Made by Python's tarfile, an encoder independent of clipgrad's TarWriter, in
each of its formats (ustar, GNU, pax), plus the hostile and broken cases the
reader must report. Files the fuzzer finds (crash-*) are kept beside them.
"""
import io
import os
import tarfile

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tar_corpus")


def shard(members, fmt=tarfile.USTAR_FORMAT):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            if kind == tarfile.SYMTYPE:
                info.linkname = "/etc/passwd"
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return out.getvalue()


def regular(name, data):
    return (name, data, tarfile.REGTYPE)


def main():
    os.makedirs(CORPUS, exist_ok=True)
    jpeg = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")
    sample = [regular("000001.jpg", jpeg), regular("000001.txt", b"a photo of a cat"),
              regular("000001.json", b'{"caption": "a cat", "key": "000001"}'), regular("000002.jpg", jpeg),
              regular("000002.txt", b"a dog"), regular("000002.cls", b"3")]
    seeds = {
        "ustar": shard(sample),
        "gnu_long_name": shard([regular("d/" + "k" * 120 + ".jpg", jpeg), regular("d/" + "k" * 120 + ".txt", b"x")],
                               tarfile.GNU_FORMAT),
        "pax_long_name": shard([regular("p/" + "q" * 200 + ".txt", b"pax")], tarfile.PAX_FORMAT),
        "hostile": shard([regular("../up.jpg", jpeg), regular("/abs.txt", b"x"),
                          ("link.jpg", b"", tarfile.SYMTYPE), ("dev.jpg", b"", tarfile.CHRTYPE),
                          ("dir", b"", tarfile.DIRTYPE), regular("ok.txt", b"ok")], tarfile.GNU_FORMAT),
    }
    whole = seeds["ustar"]
    seeds["truncated_member"] = whole[:512 + 300]
    seeds["truncated_header"] = whole[:512 + 512 + 200]
    bad = bytearray(whole)
    bad[100] ^= 0x11
    seeds["bad_checksum"] = bytes(bad)
    huge = bytearray(shard([regular("huge.jpg", b"h" * 10)]))
    huge[124:136] = b"\x80" + b"\x00" * 6 + b"\x10\x00\x00\x00\x00"  # base-256 size, 2^44
    huge[148:156] = b" " * 8
    huge[148:155] = ("%06o\0" % sum(huge[:512])).encode()
    seeds["base256_huge_size"] = bytes(huge)
    for name, data in seeds.items():
        with open(os.path.join(CORPUS, "seed_" + name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
