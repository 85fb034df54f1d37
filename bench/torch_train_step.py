"""The PyTorch peer of bench/train_step_bench.cpp: the same small CLIP (OpenAI's
model code structure), the same batch, one training step (forward, CLIP loss,
backward, AdamW) timed on the CPU with the same thread count.

    python3 bench/torch_train_step.py [--threads 2] [--batch 64] [--seconds 5]

Needs torch (CPU); the project's build and tests never do.
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    def __init__(self, width, heads, mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), QuickGELU(), nn.Linear(4 * width, width))
        self.mask = mask

    def forward(self, x):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=self.mask)[0]
        return x + self.mlp(self.ln_2(x))


class TinyClip(nn.Module):
    """ViT width 128, 4 layers, 32 px in 4 px patches; text width 128, 4 layers, context 32."""

    def __init__(self, width=128, layers=4, heads=2, patch=4, resolution=32, context=32, vocab=49408, embed=128):
        super().__init__()
        tokens = (resolution // patch) ** 2 + 1
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width) * width ** -0.5)
        self.visual_pos = nn.Parameter(torch.randn(tokens, width) * width ** -0.5)
        self.ln_pre, self.ln_post = nn.LayerNorm(width), nn.LayerNorm(width)
        self.visual = nn.Sequential(*[Block(width, heads) for _ in range(layers)])
        self.proj = nn.Parameter(torch.randn(width, embed) * width ** -0.5)
        mask = torch.full((context, context), float("-inf")).triu(1)
        self.token_embedding = nn.Embedding(vocab, width)
        self.text_pos = nn.Parameter(torch.randn(context, width) * 0.01)
        self.text = nn.Sequential(*[Block(width, heads, mask) for _ in range(layers)])
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.randn(width, embed) * width ** -0.5)
        self.logit_scale = nn.Parameter(torch.tensor(2.6592))

    def encode_image(self, pixels):
        x = self.conv1(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_embedding.expand(x.shape[0], 1, -1), x], dim=1) + self.visual_pos
        x = self.visual(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.proj

    def encode_text(self, ids):
        x = self.text(self.token_embedding(ids) + self.text_pos)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ self.text_projection


def clip_loss(model, pixels, ids):
    image = F.normalize(model.encode_image(pixels), dim=-1)
    text = F.normalize(model.encode_text(ids), dim=-1)
    logits = model.logit_scale.exp() * image @ text.t()
    target = torch.arange(logits.shape[0])
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = TinyClip()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.1)
    pixels = torch.randn(args.batch, 3, 32, 32)
    ids = torch.zeros(args.batch, 32, dtype=torch.long)
    for i in range(args.batch):
        length = 8 + i % 16
        ids[i, 0], ids[i, 1:length - 1], ids[i, length - 1] = 49406, torch.randint(1, 49000, (length - 2,)), 49407

    def step():
        loss = clip_loss(model, pixels, ids)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        step()
        steps += 1
    seconds = (time.perf_counter() - start) / steps
    print(f"torch {torch.__version__} threads={args.threads} batch={args.batch}: "
          f"{seconds * 1e3:.1f} ms/step, {args.batch / seconds:.1f} samples/s")


if __name__ == "__main__":
    main()
