"""Compare a `clipgrad dump` output with a PyTorch reference, tensor by tensor.

    python3 tools/compare_dump.py GOT.safetensors EXPECT.safetensors [--all]

Same rule as tests/parity_check.h: relative error ||got - ref|| / ||ref||
<= 1e-4, except gradients whose reference norm is below 1e-3 x the largest
gradient norm (exact zeros such as attention key biases), which are held to
that absolute floor. Prints the failures (or every tensor with --all), worst
first, and exits 1 if any fails.
"""
import os, sys
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st

def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        sys.exit(__doc__)
    got, _ = st.load(args[0])
    ref, _ = st.load(args[1])
    floor = 1e-3 * max([np.linalg.norm(v.astype(np.float64)) for k, v in ref.items() if k.startswith("grad.")] or [0])
    rows, failed = [], 0
    for name, r in ref.items():
        if name.startswith("input."):
            continue
        if name not in got:
            rows.append((np.inf, name, "missing from GOT")); failed += 1; continue
        g, r = got[name].astype(np.float64), r.astype(np.float64)
        if g.shape != r.shape:
            rows.append((np.inf, name, f"shape {g.shape} vs {r.shape}")); failed += 1; continue
        error, scale = np.linalg.norm(g - r), np.linalg.norm(r)
        if name.startswith("grad.") and scale < floor:
            ok, text = error <= floor, f"abs error {error:.3g} (zero gradient, floor {floor:.3g})"
            key = error / floor * 1e-4
        else:
            rel = error / scale if scale > 0 else (0.0 if error == 0 else np.inf)
            ok, text, key = rel <= 1e-4, f"rel error {rel:.3g}", rel
        failed += not ok
        if not ok or "--all" in sys.argv:
            rows.append((key, name, ("ok   " if ok else "FAIL ") + text))
    for _, name, text in sorted(rows, reverse=True):
        print(f"{name}: {text}")
    print(f"{failed} of {sum(not k.startswith('input.') for k in ref)} tensors fail")
    sys.exit(1 if failed else 0)

if __name__ == "__main__":
    main()
