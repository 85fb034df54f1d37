#!/usr/bin/env python3
"""Checks that `clipgrad convert --layout hf` writes a directory transformers loads, with the same features.

  python3 tools/check_hf_convert.py BUILD_DIR/clipgrad    (needs torch and transformers)

Converts tests/fixtures/torch/torchscript_vit.pt (OpenAI's model.py traced; its config given, as the
tiny model's heads are not OpenAI's width/64 rule) to a Hugging Face directory, in f32 and in f16,
loads each with transformers.CLIPModel.from_pretrained, and compares its image and text features on
the parity inputs with the float64 PyTorch reference (tiny_vit_expect.safetensors).
Prints one line per case and exits non-zero if any differs by more than the tolerance.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "tests", "fixtures")
sys.path.insert(0, HERE)
import st  # noqa: E402


def relative_error(got, want):
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def main(binary):
    _, metadata = st.load(os.path.join(FIXTURES, "tiny_vit_model.safetensors"))
    expect, _ = st.load(os.path.join(FIXTURES, "tiny_vit_expect.safetensors"))
    pixels = torch.from_numpy(np.array(expect["input.pixels"]))
    text = torch.from_numpy(np.array(expect["input.text"])).long()
    failed = False
    for dtype, tolerance in (("f32", 1e-4), ("f16", 2e-2)):
        with tempfile.TemporaryDirectory() as out:
            target = os.path.join(out, "hf")
            subprocess.run([binary, "convert", os.path.join(FIXTURES, "torch", "torchscript_vit.pt"), target,
                            "--layout", "hf", "--dtype", dtype, "--config", metadata["clip_config"]], check=True,
                           stdout=subprocess.DEVNULL)
            model = transformers.CLIPModel.from_pretrained(target, torch_dtype=torch.float32).eval()
            with torch.no_grad():
                image = model.get_image_features(pixel_values=pixels)
                words = model.get_text_features(input_ids=text, attention_mask=torch.ones_like(text))
            image = getattr(image, "pooler_output", image).numpy()  # transformers 5 may return an output object
            words = getattr(words, "pooler_output", words).numpy()
            errors = (relative_error(image, expect["eval.image_features"]),
                      relative_error(words, expect["eval.text_features"]))
            ok = max(errors) <= tolerance
            failed |= not ok
            print(f"transformers {transformers.__version__} {dtype}: image features rel. error {errors[0]:.2e}, "
                  f"text features {errors[1]:.2e} (tolerance {tolerance:g}) {'OK' if ok else 'FAILED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
