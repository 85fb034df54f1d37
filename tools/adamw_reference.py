"""Reference values for tests/nn/optim_test.cpp, from torch.optim.AdamW (CPU, f32).

Run: python3 tools/adamw_reference.py  -- prints the C++ literals the test embeds.
The scenario must stay in step with AdamWMatchesTorch in the test:
  a [2,3] decay 0.1, c [2] decay 0.1 (gradient only at steps 2 and 4),
  b [3] no decay, d [2] no decay (never a gradient);
  gradient 2 * (p - target); betas (0.9, 0.98), eps 1e-6;
  lr 0.01 for steps 1-3, 0.005 for steps 4-5.
"""
import torch

torch.set_default_dtype(torch.float32)
a = torch.tensor([[0.5, -1.0, 0.25], [2.0, -0.75, 1.5]], requires_grad=True)
b = torch.tensor([0.3, -0.2, 0.9], requires_grad=True)
c = torch.tensor([1.25, -0.5], requires_grad=True)
d = torch.tensor([0.7, -0.4], requires_grad=True)
targets = {id(a): torch.tensor([[0.1, 0.2, -0.3], [0.4, 0.0, -0.6]]),
           id(b): torch.tensor([-0.5, 0.5, 0.25]),
           id(c): torch.tensor([0.0, 1.0])}
opt = torch.optim.AdamW([{"params": [a, c], "weight_decay": 0.1}, {"params": [b, d], "weight_decay": 0.0}],
                        lr=0.01, betas=(0.9, 0.98), eps=1e-6)
for step in range(1, 6):
    if step == 4:
        for group in opt.param_groups:
            group["lr"] = 0.005
    for p in (a, b, c):
        p.grad = None
        if p is c and step not in (2, 4):
            continue
        with torch.no_grad():
            p.grad = 2 * (p - targets[id(p)])
    opt.step()


def literal(t):
    return "{" + ", ".join("%.9gf" % v for v in t.detach().reshape(-1).tolist()) + "}"


for name, p in (("a", a), ("b", b), ("c", c), ("d", d)):
    print("const std::vector<float> expected_%s = %s;" % (name, literal(p)))
