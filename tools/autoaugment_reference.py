#!/usr/bin/env python3
"""Reference values for tests/cleanclip/augment/autoaugment_test.cpp, from torchvision + PIL.

Applies each AutoAugment operation exactly as torchvision's
`transforms.AutoAugment(AutoAugmentPolicy.IMAGENET)` does on a PIL image (its
private `_apply_op` with NEAREST interpolation and fill=None), at several
magnitudes, to a few small deterministic RGB images (and one grayscale image,
as PIL "L", its results replicated to RGB), and every one of the 25
ImageNet sub-policies with each combination of signs. Writes one safetensors
file of uint8 images (numpy only; no safetensors package needed):

    input.<image>            [H, W, 3] the test image
    case.<n>                 [H, W, 3] the expected result of case n
    __metadata__["cases"]    JSON list: {"name", "image", "op", "magnitude"} for a
                             single operation, or {"name", "image", "sub_policy",
                             "negate": [bool, bool]} for both steps of a sub-policy
    __metadata__["hashed_cases"] the same for a 224x224 image, with the result's
                             FNV-1a 64 hash ("fnv1a64", hex) instead of a tensor
    __metadata__["magnitudes"] JSON {op: [10 unsigned bin values]} of
                             torchvision's _augmentation_space(10, (H, W)) per image
    __metadata__["versions"] torch, torchvision and Pillow versions used

    python3 tools/autoaugment_reference.py tests/fixtures/autoaugment/autoaugment_cases.safetensors
"""
import gzip
import json
import struct
import sys

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import AutoAugment, AutoAugmentPolicy, _apply_op

FASHION_MNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def pattern_image(width, height):
    # Sharp jumps (mod 256) so every pixel differs from its neighbours.
    y, x = np.mgrid[0:height, 0:width]
    channels = [(x * 37 + y * 91 + c * 53 + x * y * 13) % 256 for c in range(3)]
    return np.stack(channels, axis=-1).astype(np.uint8)


def gradient_image(width, height):
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 15, y * 20, (x + y) * 7 + 30], axis=-1).astype(np.uint8)


def low_contrast_image(width, height):
    # Values in [100, 140]: autocontrast and equalize have work to do.
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([100 + (x * 5 + y * 3) % 41, 110 + (x * y) % 17, 120 + (x + 2 * y) % 21],
                    axis=-1).astype(np.uint8)


def fashion_image():
    # The first training image of Fashion-MNIST (an ankle boot), tinted so the
    # three channels differ: R = v, G = v / 2 + 64, B = 255 - v.
    with gzip.open(FASHION_MNIST, "rb") as f:
        data = f.read(16 + 28 * 28)
    v = np.frombuffer(data[16:], np.uint8).reshape(28, 28).astype(np.int64)
    return np.stack([v, v // 2 + 64, 255 - v], axis=-1).astype(np.uint8)


def fashion_gray_image():
    # The centre 16x16 of the same image, untinted, replicated to RGB. Its expected
    # results are computed on the PIL "L" image (CleanCLIP opens images without
    # convert("RGB")) and replicated, so the test checks that gray-as-RGB matches.
    with gzip.open(FASHION_MNIST, "rb") as f:
        data = f.read(16 + 28 * 28)
    v = np.frombuffer(data[16:], np.uint8).reshape(28, 28)[6:22, 6:22]
    return np.repeat(v[:, :, None], 3, axis=2)


IMAGES = {
    "pattern": pattern_image(17, 13),
    "gradient": gradient_image(17, 13),
    "square": pattern_image(12, 12),
    "low_contrast": low_contrast_image(9, 7),
    "constant": np.full((4, 5, 3), 77, np.uint8),
    "fashion": fashion_image(),
    "fashion_gray": fashion_gray_image(),
}
GRAY_IMAGES = {"fashion_gray"}


def photo224_image():
    # A realistic-size view: the tinted Fashion-MNIST image resized to 224x224
    # (PIL bicubic) plus a faint diagonal texture. Its results are stored as
    # FNV-1a hashes only, to keep the fixture small.
    base = Image.fromarray(fashion_image(), "RGB").resize((224, 224), Image.BICUBIC)
    array = np.array(base, np.int64)
    y, x = np.mgrid[0:224, 0:224]
    array = array + ((x + 2 * y) % 7)[:, :, None] * np.array([1, 2, 3])
    return np.clip(array, 0, 255).astype(np.uint8)


HASHED_IMAGES = {"photo224": photo224_image()}


def fnv1a64(array):
    h = 1469598103934665603
    for b in np.ascontiguousarray(array, np.uint8).tobytes():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def hashed_cases():
    cases = []
    for image, array in HASHED_IMAGES.items():
        for op in ["ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
                   "Sharpness"]:
            for magnitude in signed_bins(array, op, [1, 5, 9]):
                cases.append({"image": image, "op": op, "magnitude": magnitude})
        for op, magnitudes in [("Posterize", [4.0, 6.0]), ("Solarize", [bin_value(array, "Solarize", 5)]),
                               ("AutoContrast", [0.0]), ("Equalize", [0.0]), ("Invert", [0.0])]:
            for magnitude in magnitudes:
                cases.append({"image": image, "op": op, "magnitude": magnitude})
        for index in range(25):
            for negate in ([False, False], [True, False], [False, True], [True, True]):
                cases.append({"image": image, "sub_policy": index, "negate": negate})
    for case in cases:
        array = HASHED_IMAGES[case["image"]]
        if "op" in case:
            img = _apply_op(Image.fromarray(array, "RGB"), case["op"], case["magnitude"],
                            interpolation=InterpolationMode.NEAREST, fill=None)
            result = np.array(img, np.uint8)
        else:
            result = run_sub_policy(array, case["sub_policy"], case["negate"])
        assert result.shape == array.shape, case
        case["fnv1a64"] = fnv1a64(result)
    return cases


def space(array):
    height, width = array.shape[:2]
    return AutoAugment()._augmentation_space(10, (height, width))


def bin_value(array, op, index):
    return float(space(array)[op][0][index].item())


def signed_bins(array, op, bins):
    values = []
    for b in bins:
        v = bin_value(array, op, b)
        values += [v, -v] if v != 0 else [v]
    return values


def single_op_cases():
    cases = []
    for image, array in IMAGES.items():
        if image == "fashion":
            continue  # used by the seeding tests; photo224 (hashed) covers its content at full size
        mags = {
            "ShearX": signed_bins(array, "ShearX", [0, 1, 5, 9]),
            "ShearY": signed_bins(array, "ShearY", [1, 5, 9]),
            "TranslateX": signed_bins(array, "TranslateX", [1, 5, 9]) + [3.7, -2.2, 40.0],
            "TranslateY": signed_bins(array, "TranslateY", [1, 5, 9]) + [3.7, -2.2, 40.0],
            "Rotate": signed_bins(array, "Rotate", [0, 3, 8, 9]) + [45.0, 90.0, -90.0, 180.0, 270.0, 400.0],
            "Brightness": signed_bins(array, "Brightness", [0, 2, 5, 9]) + [1.5],
            "Color": signed_bins(array, "Color", [0, 2, 4, 8, 9]) + [1.5],
            "Contrast": signed_bins(array, "Contrast", [0, 2, 5, 8, 9]) + [1.5],
            "Sharpness": signed_bins(array, "Sharpness", [0, 2, 7, 9]) + [1.5],
            "Posterize": [8.0, 7.0, 6.0, 5.0, 4.0, 2.0, 1.0],
            "Solarize": [bin_value(array, "Solarize", b) for b in range(10)] + [77.0, 77.5],
            "AutoContrast": [0.0],
            "Equalize": [0.0],
            "Invert": [0.0],
        }
        for op, magnitudes in mags.items():
            for magnitude in magnitudes:
                cases.append({"image": image, "op": op, "magnitude": magnitude})
    return cases


def sub_policy_cases():
    cases = []
    for image in ["pattern", "gradient"]:
        for index in range(25):
            for negate in ([False, False], [True, False], [False, True], [True, True]):
                cases.append({"image": image, "sub_policy": index, "negate": negate})
    return cases


def run_sub_policy(array, index, negate):
    # AutoAugment.forward with both steps taken and the given signs.
    augment = AutoAugment(AutoAugmentPolicy.IMAGENET)
    img = Image.fromarray(array, "RGB")
    meta = augment._augmentation_space(10, (array.shape[0], array.shape[1]))
    for i, (op, _, magnitude_id) in enumerate(augment.policies[index]):
        magnitudes, signed = meta[op]
        magnitude = float(magnitudes[magnitude_id].item()) if magnitude_id is not None else 0.0
        if signed and negate[i]:
            magnitude *= -1.0
        img = _apply_op(img, op, magnitude, interpolation=InterpolationMode.NEAREST, fill=None)
    return np.array(img, np.uint8)


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array, np.uint8).tobytes()
        header[name] = {"dtype": "U8", "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for raw in blobs:
            f.write(raw)


def main():
    path = sys.argv[1]
    tensors = {f"input.{name}": array for name, array in {**IMAGES, **HASHED_IMAGES}.items()}
    cases = single_op_cases() + sub_policy_cases()
    for n, case in enumerate(cases):
        array = IMAGES[case["image"]]
        if "op" in case and case["image"] in GRAY_IMAGES:
            img = _apply_op(Image.fromarray(np.ascontiguousarray(array[:, :, 0]), "L"), case["op"],
                            case["magnitude"], interpolation=InterpolationMode.NEAREST, fill=None)
            assert img.mode == "L", case
            result = np.repeat(np.array(img, np.uint8)[:, :, None], 3, axis=2)
        elif "op" in case:
            img = _apply_op(Image.fromarray(array, "RGB"), case["op"], case["magnitude"],
                            interpolation=InterpolationMode.NEAREST, fill=None)
            result = np.array(img, np.uint8)
        else:
            result = run_sub_policy(array, case["sub_policy"], case["negate"])
        assert result.shape == array.shape, case
        case["name"] = f"case.{n}"
        tensors[case["name"]] = result
    magnitudes = {}
    for name, array in {**IMAGES, **HASHED_IMAGES}.items():
        magnitudes[name] = {op: [float(v) for v in values.reshape(-1).tolist()]
                            for op, (values, _) in space(array).items() if values.numel() == 10}
    policy = [[[op, p, m] for op, p, m in sub] for sub in AutoAugment(AutoAugmentPolicy.IMAGENET).policies]
    metadata = {
        "cases": json.dumps(cases),
        "hashed_cases": json.dumps(hashed_cases()),
        "magnitudes": json.dumps(magnitudes),
        "policy": json.dumps(policy),
        "versions": f"torch {torch.__version__}, torchvision {torchvision.__version__}, Pillow {PIL.__version__}",
    }
    write_safetensors(path, tensors, metadata)
    print(f"{path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
