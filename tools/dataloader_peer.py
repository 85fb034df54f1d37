#!/usr/bin/env python3
"""The PyTorch peer of `clipgrad bench --data`: the same JPEG shards to CLIP's
normalised 224 px tensors through a torch DataLoader, Pillow and torchvision's
transforms as open_clip builds them (Resize(224, BICUBIC), CenterCrop(224),
convert("RGB"), ToTensor, Normalize(CLIP's mean and std)).

    python3 tools/dataloader_peer.py 'DIR/{00000..00001}.tar' --workers K [--images N] [--json OUT]

Passes, as clipgrad's bench runs them:
  decode  the encoded images held in memory (read from the shards first), each
          opened and converted to RGB (Pillow decodes at full size);
  full    the same, then the transforms;
  loader  an IterableDataset reading the tar shards (split among the workers, as
          webdataset does), the transforms, batches of 256.
K DataLoader worker processes (each torch thread-limited to 1, DataLoader's
default). Rates per wall second and per CPU second (user + system of this
process and of its reaped workers): images per second per core.
"""
import argparse
import io
import json
import os
import resource
import tarfile
import time
import re

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info
from torchvision import transforms

MEAN, STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def expand(pattern):
    match = re.search(r"\{(\d+)\.\.(\d+)\}", pattern)
    if not match:
        return [pattern]
    first, last = match.group(1), match.group(2)
    return [pattern[:match.start()] + str(i).zfill(len(first)) + pattern[match.end():]
            for i in range(int(first), int(last) + 1)]


def clip_transform(size=224):
    return transforms.Compose([transforms.Resize(size, interpolation=transforms.InterpolationMode.BICUBIC),
                               transforms.CenterCrop(size), lambda image: image.convert("RGB"),
                               transforms.ToTensor(), transforms.Normalize(MEAN, STD)])


def jpegs(shard):
    with tarfile.open(shard) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".jpg"):
                yield tar.extractfile(member).read()


class InMemory(Dataset):
    def __init__(self, images, full):
        self.images, self.transform = images, clip_transform() if full else None

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image = Image.open(io.BytesIO(self.images[i])).convert("RGB")
        return self.transform(image) if self.transform else torch.zeros(1)


class Shards(IterableDataset):
    def __init__(self, shards):
        self.shards, self.transform = shards, clip_transform()

    def __iter__(self):
        info = get_worker_info()
        mine = self.shards if info is None else self.shards[info.id::info.num_workers]
        for shard in mine:
            for data in jpegs(shard):
                yield self.transform(Image.open(io.BytesIO(data)))


def cpu_seconds():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(dataset, workers, batch):
    cpu, start, count = cpu_seconds(), time.perf_counter(), 0
    loader = DataLoader(dataset, batch_size=batch, num_workers=workers, persistent_workers=False)
    for images in loader:
        count += images.shape[0]
    del loader  # the workers exit and are reaped: their CPU time is counted
    wall = time.perf_counter() - start
    return {"images_per_s": count / wall, "images_per_cpu_s": count / (cpu_seconds() - cpu)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shards")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--images", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    shards = expand(args.shards)
    images = [data for shard in shards for data in jpegs(shard)]
    if args.images:
        images = images[:args.images]
    result = {"images": len(images), "workers": args.workers, "torch": torch.__version__,
              "pillow": Image.__version__}
    print("dataloader_peer: %d images, %d worker process(es), torch %s, Pillow %s"
          % (len(images), args.workers, torch.__version__, Image.__version__))
    for name, dataset in (("decode", InMemory(images, False)), ("full", InMemory(images, True)),
                          ("loader", Shards(shards))):
        result[name] = timed(dataset, args.workers, 256)
        print("  %-7s %8.1f images/s  %8.1f images per CPU-second"
              % (name, result[name]["images_per_s"], result[name]["images_per_cpu_s"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
