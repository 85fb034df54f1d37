#!/usr/bin/env python3
"""Webdataset shards of real JPEGs for `clipgrad bench --data` and the DCT-scaling checks.

    python3 tools/make_bench_images.py photos --out DIR [--count 2000] [--seed 0] [--shard-size 1000]
    python3 tools/make_bench_images.py fashion --out DIR [--count 10000] [--side 112]

photos: natural photographs at the sizes web datasets hold (the longer side 400 to
800 px, JPEG quality 95 as img2dataset writes): random crops (aspect 3:4 to 4:3, 35
to 100% of the shorter side), rescaled and sometimes mirrored, of the photographic
wallpapers Debian ships in lomiri-wallpapers-16.04, lomiri-wallpapers-20.04 and
ukui-wallpapers (/usr/share/backgrounds; landscapes, animals, objects; the
illustrations and patterns there are left out). Each sample: KEY.jpg, KEY.txt, and
KEY.cls (the source photo's index).

fashion: the Fashion-MNIST test images (Debian's dataset-fashion-mnist) upscaled
bicubically to SIDE px and saved as JPEG quality 95, with KEY.cls (the label) and
KEY.txt: a labelled test set whose images are many times the 28 px a vit-tiny-28
model reads, so that the DCT-scaled decode (1/4 at 112 px) differs from the exact one.

Needs Pillow. Writes DIR/00000.tar, ... and DIR/sizes.json.
"""
import argparse
import gzip
import io
import json
import os
import random
import tarfile

from PIL import Image

PHOTOS = [
    "Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg", "Kleiber_by_Lukas_Baubkus.jpg",
    "Wine_by_Jakkub_Mede.jpg", "Infinite-Sea_by_Aury88.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg",
    "friends_by_Aitzol_Berasategi.jpg", "life_by_Aitzol_Berasategi.jpg", "picosdeeuropa_by_Aitzol_Berasategi.jpg",
    "sunset_by_Aitzol_Berasategi.jpg", "seeding_by_Clements_Engelhardt.jpg", "umang_by_Abhishek_Mudgal.jpg",
    "free_by_Peter_Nerlich.jpg", "greentock_by_Peter_Nerlich.jpg",
]
FOLDER = "/usr/share/backgrounds"


def write_shards(out, samples, shard_size):
    """samples: iterable of (key, {extension: bytes})."""
    os.makedirs(out, exist_ok=True)
    sizes, shard, count, tar = {}, 0, 0, None
    for key, members in samples:
        if tar is None or count == shard_size:
            if tar is not None:
                tar.close()
                sizes["%05d.tar" % (shard - 1)] = count
            tar, count = tarfile.open(os.path.join(out, "%05d.tar" % shard), "w", format=tarfile.USTAR_FORMAT), 0
            shard += 1
        for extension, data in members.items():
            info = tarfile.TarInfo("%s.%s" % (key, extension))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        count += 1
    if tar is not None:
        tar.close()
        sizes["%05d.tar" % (shard - 1)] = count
    with open(os.path.join(out, "sizes.json"), "w") as f:
        json.dump(sizes, f, indent=1)
    print("wrote %d samples in %d shards to %s" % (sum(sizes.values()), shard, out))


def jpeg(image, quality=95):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def photos(args):
    rng = random.Random(args.seed)
    sources = [Image.open(os.path.join(FOLDER, name)).convert("RGB") for name in PHOTOS]

    def samples():
        for i in range(args.count):
            index = rng.randrange(len(sources))
            photo = sources[index]
            aspect = rng.uniform(3 / 4, 4 / 3)
            short = min(photo.size) * rng.uniform(0.35, 1.0)
            width, height = (short * aspect, short) if aspect >= 1 else (short, short / aspect)
            width, height = min(width, photo.width), min(height, photo.height)
            left, top = rng.uniform(0, photo.width - width), rng.uniform(0, photo.height - height)
            crop = photo.crop((int(left), int(top), int(left + width), int(top + height)))
            longer = rng.randint(400, 800)
            scale = longer / max(crop.size)
            crop = crop.resize((max(1, round(crop.width * scale)), max(1, round(crop.height * scale))), Image.BICUBIC)
            if rng.random() < 0.5:
                crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
            yield "%06d" % i, {"jpg": jpeg(crop), "txt": b"a photo", "cls": str(index).encode()}

    write_shards(args.out, samples(), args.shard_size)


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * d:8 + 4 * d], "big") for d in range(dims)]
    return shape, data[4 + 4 * dims:]


def fashion(args):
    source = "/usr/share/datasets/fashion-mnist"
    shape, pixels = idx(os.path.join(source, "t10k-images-idx3-ubyte.gz"))
    _, labels = idx(os.path.join(source, "t10k-labels-idx1-ubyte.gz"))
    count = min(args.count, shape[0])

    def samples():
        for i in range(count):
            image = Image.frombytes("L", (28, 28), pixels[i * 784:(i + 1) * 784]).convert("RGB")
            image = image.resize((args.side, args.side), Image.BICUBIC)
            yield "%06d" % i, {"jpg": jpeg(image), "cls": str(labels[i]).encode(), "txt": b"x"}

    write_shards(args.out, samples(), args.shard_size)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["photos", "fashion"])
    parser.add_argument("--out", required=True)
    parser.add_argument("--count", type=int, default=None, help="photos: 2000, fashion: 10000 (the whole test set)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shard-size", type=int, default=1000)
    parser.add_argument("--side", type=int, default=112)
    args = parser.parse_args()
    if args.count is None:
        args.count = 2000 if args.kind == "photos" else 10000
    (photos if args.kind == "photos" else fashion)(args)


if __name__ == "__main__":
    main()
