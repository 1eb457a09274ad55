"""Shared body of lenet300_epoch.py and lenet5_epoch.py: time training epochs (batch 100, Adam 1e-3) of a network in
several variants — plain deterministic, Sparse VD, group normal-Jeffreys — on Fashion-MNIST.

Per-minibatch objectives: plain: mean cross-entropy; Sparse VD: N·CE + w·KL with the seminar's KL weight
w = min(1, 0.02 + 0.02·epoch) (epoch from 1); group NJ: N·CE + KL (Louizos 2017, no warm-up). Only the optimisation
loop is timed (shuffling and gathering minibatches included, evaluation excluded).
"""

import torch
import torch.nn.functional as F
from torch import nn

import common
import models

KINDS = {"plain": "plain deterministic", "svd": "Sparse VD (local reparameterisation)", "gnj": "group normal-Jeffreys"}


def forward_flops(model, example):
    """Multiply-add FLOPs (2 per MAC) of the weight layers' products for one example, read off the layer shapes
    during a forward pass. A local-reparameterisation layer does two such products in its forward pass."""
    total = [0]

    def hook(module, inputs, output):
        w = models.weight_shape(module)
        if len(w) == 2:
            total[0] += 2 * w[0] * w[1]
        else:
            total[0] += 2 * output.shape[1] * output.shape[2] * output.shape[3] * w[1] * w[2] * w[3]

    handles = [m.register_forward_hook(hook) for _, m in models.weight_layers(model)]
    was = [getattr(m, "mode", None) for m in models.bayesian_layers(model)]
    models.set_mode(model, "mean")
    with torch.no_grad():
        model(example[:1])
    for m, mode in zip(models.bayesian_layers(model), was):
        m.mode = mode
    for h in handles:
        h.remove()
    return total[0]


def accuracy(model, x, y, batch=1000):
    model.eval()
    models.set_mode(model, "mean")
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            correct += int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
    return correct / x.shape[0]


def run_kind(make_model, kind, data, args):
    torch.manual_seed(args.seed)
    model = make_model(kind)
    x, y = data["train"]
    n = x.shape[0]
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    epochs, cpu = [], []
    for epoch in range(1, args.epochs + 1):
        model.train()
        models.set_mode(model, "lrt")
        steps, ce_sum = 0, 0.0
        with common.Timer() as t:
            for xb, yb in common.minibatches(x, y, args.batch_size, gen):
                logits = model(xb)
                ce = F.cross_entropy(logits, yb)
                if kind == "plain":
                    loss = ce
                elif kind == "svd":
                    loss = ce * n + min(1.0, 0.02 + 0.02 * epoch) * models.total_kl(model)
                else:
                    loss = ce * n + models.total_kl(model)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                ce_sum += float(ce)
                steps += 1
        epochs.append(t.seconds)
        cpu.append(t.cpu)
        common.log(f"{kind}: epoch {epoch}/{args.epochs} {t.seconds:.2f}s ({1000 * t.seconds / steps:.1f} ms/step) "
                   f"ce {ce_sum / steps:.4f}")
    rec = {
        "method": KINDS[kind],
        "epoch_seconds": epochs,
        "epoch_seconds_min": min(epochs) if epochs else None,
        "epoch_cpu_seconds": cpu,
        "ms_per_step": 1000 * min(epochs) / steps if epochs else None,
        "steps_per_epoch": steps if epochs else 0,
        "test_accuracy": accuracy(model, *data["test"]),
        "parameters": models.count_params(model),
        "forward_flops_per_example": forward_flops(model, x),
    }
    # Estimate of the weight-layer product FLOPs of one training step: forward + two backward products per layer
    # (3F per example), doubled for local reparameterisation (products with x and with x²). The first layer's input
    # gradient is not computed by autograd, so this slightly overstates the work.
    rec["matmul_flops_per_step_estimate"] = (3 if kind == "plain" else 6) * rec["forward_flops_per_example"] * args.batch_size
    if epochs:
        rec["achieved_gflops_estimate"] = rec["matmul_flops_per_step_estimate"] * steps / min(epochs) / 1e9
    if kind == "svd":
        masks = [m.mask() for m in models.bayesian_layers(model)]
        rec["compression"] = sum(m.numel() for m in masks) / max(1, int(sum(m.sum() for m in masks)))
    if kind == "gnj":
        with torch.no_grad():
            rec["groups_kept"] = [int(m.group_mask().sum()) for m in models.bayesian_layers(model)]
            rec["groups"] = [int(m.z_mu.numel()) for m in models.bayesian_layers(model)]
    return rec


def main(arch, description, default_methods):
    make_model = {"lenet300": models.lenet300, "lenet5": models.lenet5}[arch]
    p = common.base_parser(description, 1, "epochs timed per method")
    p.add_argument("--methods", default=default_methods, help=f"comma-separated subset of {','.join(KINDS)}")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    args = p.parse_args()
    env = common.setup(args)
    data = common.load_data(args)
    results = {}
    for kind in args.methods.split(","):
        if kind not in KINDS:
            raise SystemExit(f"unknown method {kind!r}; choose from {', '.join(KINDS)}")
        results[kind] = run_kind(make_model, kind, data, args)
    result = {
        "benchmark": f"{arch}_epoch",
        "network": arch,
        "batch_size": args.batch_size,
        "optimizer": f"Adam lr {args.lr}",
        "epochs": args.epochs,
        "train_size": data["train"][0].shape[0],
        "results": results,
        "env": env,
    }
    common.emit(result, args.json)
