#!/usr/bin/env python3
"""Writes the PyTorch checkpoint fixtures (tests/fixtures/torch/) and the pickle/zip fuzz seeds
(tests/fuzz/torch_corpus/) with real PyTorch, from the tiny OpenAI-layout models in tests/fixtures/.

  python3 tools/make_torch_fixtures.py      (needs torch, CPU is enough)

Fixtures, each holding the weights of tiny_vit_model or tiny_rn_model unchanged:
  cleanclip_rn.pt       torch.save({"epoch", "name", "state_dict" with DDP's "module." prefix, "optimizer"}),
                        the dict CleanCLIP's training code saves (AdamW state for logit_scale only, to stay small)
  openclip_vit.pt       torch.save({"epoch", "name", "state_dict", "optimizer", "scaler"}) as open_clip saves;
                        two matrices are stored as transposed views (non-contiguous strides, shared storage)
  torchscript_vit.pt    torch.jit.save of tools/openai_clip_torch.py (OpenAI's model.py) traced
  fp16_vit.pt           torch.save of the state dict converted to float16
  legacy_rn.pt          torch.save(..., _use_new_zipfile_serialization=False) (the pre-1.6 format)
  evil_reduce_zip.pt    a dict whose value pickles as os.system(...) through __reduce__ (zip format)
  evil_reduce_legacy.pt the same in the legacy format
  evil_global.pt        a state dict holding a collections.Counter (a global not on the allow-list)
The os.system payload would create /tmp/clipgrad_pwned_<format>; the tests check that it never appears.
"""
import collections
import io
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(FIXTURES, "torch")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "torch_corpus")
sys.path.insert(0, HERE)
import st  # noqa: E402
from openai_clip_torch import CLIP  # noqa: E402


def state_dict(name):
    """The tiny model's tensors (torch, in file order) and its config."""
    tensors, metadata = st.load(os.path.join(FIXTURES, name + "_model.safetensors"))
    return ({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, json.loads(metadata["clip_config"]))


class Evil:
    """Pickles as a call to os.system: what torch.load without weights_only would run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch " + self.marker,))


def save(obj, path, **kwargs):
    torch.save(obj, path, **kwargs)
    print("wrote", os.path.relpath(path, ROOT), os.path.getsize(path), "bytes")


def adamw_state(params):
    """An AdamW state dict after one step on `params` (CleanCLIP and open_clip train with AdamW)."""
    leaves = [torch.nn.Parameter(p.clone()) for p in params]
    optimizer = torch.optim.AdamW(leaves, lr=5e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    for leaf in leaves:
        leaf.grad = torch.ones_like(leaf)
    optimizer.step()
    return optimizer.state_dict()


def fixtures():
    os.makedirs(OUT, exist_ok=True)
    vit, vit_config = state_dict("tiny_vit")
    rn, _ = state_dict("tiny_rn")

    # CleanCLIP (src/train.py): DDP-wrapped model, so every name carries "module.".
    save({"epoch": 10, "name": "cleanclip-tiny-rn",
          "state_dict": collections.OrderedDict(("module." + k, v) for k, v in rn.items()),
          "optimizer": adamw_state([rn["logit_scale"]])},
         os.path.join(OUT, "cleanclip_rn.pt"))

    # open_clip (training/train.py): a real module's state_dict() (an OrderedDict whose _metadata pickles
    # through BUILD); views: one matrix stored transposed, one as a column slice of a wider storage.
    module = CLIP(**vit_config)
    module.load_state_dict(vit, strict=True)
    openclip = module.state_dict()
    assert hasattr(openclip, "_metadata")
    openclip["visual.proj"] = vit["visual.proj"].t().contiguous().t()  # strides (1, rows)
    wide = torch.cat([vit["text_projection"], torch.zeros(vit["text_projection"].shape[0], 3)], dim=1)
    openclip["text_projection"] = wide[:, :vit["text_projection"].shape[1]]  # row stride > width
    assert not openclip["visual.proj"].is_contiguous() and not openclip["text_projection"].is_contiguous()
    save({"epoch": 3, "name": "openclip-tiny-vit", "state_dict": openclip,
          "optimizer": adamw_state([vit["logit_scale"]]),
          "scaler": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000,
                     "_growth_tracker": 0}},
         os.path.join(OUT, "openclip_vit.pt"))

    save(collections.OrderedDict((k, v.half()) for k, v in vit.items()), os.path.join(OUT, "fp16_vit.pt"))
    save(rn, os.path.join(OUT, "legacy_rn.pt"), _use_new_zipfile_serialization=False)

    # TorchScript: OpenAI's model.py traced, with the tiny model's weights.
    model = CLIP(**vit_config).eval()
    missing = model.load_state_dict(vit, strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys
    expect, _ = st.load(os.path.join(FIXTURES, "tiny_vit_expect.safetensors"))
    pixels = torch.from_numpy(np.array(expect["input.pixels"]))
    text = torch.from_numpy(np.array(expect["input.text"])).long()
    with torch.no_grad():
        traced = torch.jit.trace(model, (pixels, text), check_trace=False)
        # The module reproduces the parity reference (so the trace is of the model the fixture describes).
        reference = torch.from_numpy(np.array(expect["eval.image_features"]))
        assert torch.allclose(model.encode_image(pixels), reference, rtol=1e-4, atol=1e-5)
    path = os.path.join(OUT, "torchscript_vit.pt")
    torch.jit.save(traced, path)
    print("wrote", os.path.relpath(path, ROOT), os.path.getsize(path), "bytes")

    save({"state_dict": {"w": torch.zeros(2)}, "payload": Evil("/tmp/clipgrad_pwned_zip")},
         os.path.join(OUT, "evil_reduce_zip.pt"))
    save({"state_dict": {"w": torch.zeros(2)}, "payload": Evil("/tmp/clipgrad_pwned_legacy")},
         os.path.join(OUT, "evil_reduce_legacy.pt"), _use_new_zipfile_serialization=False)
    save({"w": torch.zeros(2), "counts": collections.Counter("abc")}, os.path.join(OUT, "evil_global.pt"))


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 3)
        self.register_buffer("steps", torch.tensor([1, 2], dtype=torch.int64))

    def forward(self, x):
        return self.linear(x)


def corpus():
    """Small valid and invalid files of each format, the fuzzer's starting points."""
    os.makedirs(CORPUS, exist_ok=True)
    base = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    dtypes = {"f32": base, "f16": base.half(), "bf16": base.bfloat16(), "f64": base.double(),
              "i64": base.long(), "i32": base.int(), "u8": base.to(torch.uint8), "bool": base > 2}
    for name, tensor in dtypes.items():
        save({"t": tensor}, os.path.join(CORPUS, "seed_dtype_" + name + ".pt"))
    save({"t": torch.tensor([2 ** 40, -3])}, os.path.join(CORPUS, "seed_i64_out_of_range.pt"))
    save({"view": base.t(), "slice": base[:, 1:], "scalar": torch.tensor(2.5)}, os.path.join(CORPUS, "seed_views.pt"))
    save({"epoch": 1, "state_dict": {"module.a": base}, "optimizer": {"state": {}, "param_groups": [
        {"lr": 0.1, "betas": (0.9, 0.99), "params": [0]}]}}, os.path.join(CORPUS, "seed_checkpoint.pt"))
    save({"t": base, "v": base.t()}, os.path.join(CORPUS, "seed_legacy.pt"), _use_new_zipfile_serialization=False)
    torch.jit.save(torch.jit.trace(Tiny(), torch.zeros(1, 2)), os.path.join(CORPUS, "seed_torchscript.pt"))
    save({"x": Evil("/tmp/clipgrad_pwned_fuzz")}, os.path.join(CORPUS, "seed_evil.pt"))
    # A bare pickle stream (no zip, no legacy magic) and a zip whose data.pkl is deflated.
    buffer = io.BytesIO()
    torch.save({"t": base}, buffer)
    with open(os.path.join(CORPUS, "seed_zip_deflated.pt"), "wb") as out:
        out.write(deflate_zip(buffer.getvalue()))


def deflate_zip(data):
    """The same archive with every entry recompressed with deflate (torch writes them stored)."""
    import zipfile
    source = zipfile.ZipFile(io.BytesIO(data))
    target_bytes = io.BytesIO()
    with zipfile.ZipFile(target_bytes, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info.filename))
    return target_bytes.getvalue()


if __name__ == "__main__":
    torch.manual_seed(0)
    fixtures()
    corpus()
