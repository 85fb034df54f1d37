#!/usr/bin/env python3
"""Reference values for tests/cleanclip/attack/wanet_test.cpp, from PyTorch.

WaNet's warp as its paper's code (and CleanCLIP's backdoor/utils.py) computes
it, on a non-square image so that the x/y conventions are checked:
F.interpolate(grid, (H, W), mode="bicubic", align_corners=True), the identity
grid from torch.linspace(-1, 1, .) per axis, offsets s * field / H, clamped to
[-1, 1], then F.grid_sample(bilinear, align_corners=True). Needs: pip install
torch safetensors.

    python3 tools/wanet_reference.py tests/fixtures/cleanclip_attack/wanet_reference.safetensors
"""
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

K, H, W, S = 4, 7, 9, 3.0  # a large s, so that the clamp at the border matters


def main(path):
    generator = torch.Generator().manual_seed(0)
    grid = torch.rand(1, 2, K, K, generator=generator) * 2 - 1
    grid = grid / torch.mean(torch.abs(grid))
    upsampled = F.interpolate(grid, size=(H, W), mode="bicubic", align_corners=True)  # [1, 2, H, W]
    rows, cols = torch.meshgrid(torch.linspace(-1, 1, H), torch.linspace(-1, 1, W), indexing="ij")
    identity = torch.stack((cols, rows), 2)[None]  # [1, H, W, (x, y)]
    sampling = torch.clamp(identity + S * upsampled.permute(0, 2, 3, 1) / H, -1, 1)
    levels = torch.tensor([[[(x * 37 + y * 91 + c * 53 + x * y * 13) % 256 for c in range(3)] for x in range(W)]
                           for y in range(H)], dtype=torch.uint8)  # [H, W, 3]
    image = levels.permute(2, 0, 1)[None].to(torch.float32) / 255
    warped = F.grid_sample(image, sampling, mode="bilinear", align_corners=True)[0]  # [3, H, W]
    save_file({
        "grid": grid[0].contiguous(),                      # [2, K, K]
        "upsampled": upsampled[0].contiguous(),            # [2, H, W]
        "image": levels.contiguous(),                      # [H, W, 3] uint8
        "warped": (warped * 255).permute(1, 2, 0).contiguous(),  # [H, W, 3] in 8-bit units
    }, path, metadata={"k": str(K), "s": str(S), "height": str(H), "width": str(W)})


if __name__ == "__main__":
    main(sys.argv[1])
