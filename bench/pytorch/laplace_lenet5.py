#!/usr/bin/python3
"""KFAC-GGN Laplace on a MAP LeNet-5-Caffe, Fashion-MNIST in-distribution, MNIST test set out-of-distribution.

MAP: Adam 1e-3, weight decay 5e-4 (L2 added to the gradient, as torch.optim.Adam does), batch 128, mean cross-entropy,
``--epochs`` epochs (15 in the reference) — or ``--load-model`` a saved state dict. Then last-layer KFAC and
all-layer KFAC (see kfac.py for the exact conventions: exact GGN from per-class backward passes, KFC for convs,
exact prior in the eigenbasis, prior precision by marginal likelihood on a log grid, probit predictive).
Reports, for MAP and each Laplace: test accuracy, NLL, ECE (15 bins), Brier, OOD AUROC (max-probability and entropy);
fit time over the training set (forward passes + factors + eigendecompositions), prior-optimisation time and
prediction time over the test set (10k).
"""

import math
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import kfac  # noqa: E402
import models  # noqa: E402


def train_map(model, data, args):
    x, y = data
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    gen = torch.Generator().manual_seed(args.seed)
    times, cpu = [], []
    for epoch in range(1, args.epochs + 1):
        model.train()
        with common.Timer() as t:
            for xb, yb in common.minibatches(x, y, args.batch_size, gen):
                loss = F.cross_entropy(model(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        times.append(t.seconds)
        cpu.append(t.cpu)
        common.log(f"MAP epoch {epoch}/{args.epochs} {t.seconds:.2f}s loss {float(loss):.4f}")
    model.eval()
    return times, cpu


def metrics(p_in, y_in, p_out):
    out = common.classification_metrics(p_in, y_in, bins=15)
    out.update(common.ood_metrics(p_in, p_out))
    return out


def grid(args):
    return torch.logspace(args.grid_min, args.grid_max, args.grid_points, dtype=torch.float64)


def run_last_layer(model, data, args):
    features, last = model[:-1], model[-1]
    with common.Timer() as t_fit:
        krons, nll = kfac.fit_last_layer(features, last, data["train"], args.fit_batch_size)
    theta_sq = float((kfac.flat_weight(last).detach().double() ** 2).sum())
    with common.Timer() as t_prior:
        tau, values = kfac.optimise_prior(krons, theta_sq, nll, grid(args))
    with common.Timer() as t_pred:
        p_map, p_la = kfac.predict_last_layer(features, last, krons[last], tau, data["test"][0], args.predict_batch_size)
    _, p_la_ood = kfac.predict_last_layer(features, last, krons[last], tau, data["ood"][0], args.predict_batch_size)
    return p_map, {
        "parameters": krons[last].numel(),
        "prior_precision": tau,
        "prior_on_grid_edge": tau in (float(grid(args)[0]), float(grid(args)[-1])),
        "log_marglik": max(values),
        "fit_seconds": t_fit.seconds,
        "fit_cpu_seconds": t_fit.cpu,
        "prior_seconds": t_prior.seconds,
        "predict_seconds": t_pred.seconds,
        "predict_cpu_seconds": t_pred.cpu,
        "metrics": metrics(p_la, data["test"][1], p_la_ood),
    }


def run_all_layers(model, data, args):
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    with common.Timer() as t_fit:
        krons, nll = kfac.fit_all_layers(model, layers, data["train"], args.fit_batch_size)
    theta_sq = sum(float((kfac.flat_weight(m).detach().double() ** 2).sum()) for m in layers)
    with common.Timer() as t_prior:
        tau, values = kfac.optimise_prior(krons, theta_sq, nll, grid(args))
    with common.Timer() as t_pred:
        _, p_la = kfac.predict_all_layers(model, layers, krons, tau, data["test"][0], args.jacobian_batch_size)
    _, p_la_ood = kfac.predict_all_layers(model, layers, krons, tau, data["ood"][0], args.jacobian_batch_size)
    return {
        "parameters": sum(k.numel() for k in krons.values()),
        "factor_shapes": [[k.lam_g.numel(), k.lam_a.numel()] for k in krons.values()],
        "prior_precision": tau,
        "prior_on_grid_edge": tau in (float(grid(args)[0]), float(grid(args)[-1])),
        "log_marglik": max(values),
        "fit_seconds": t_fit.seconds,
        "fit_cpu_seconds": t_fit.cpu,
        "prior_seconds": t_prior.seconds,
        "predict_seconds": t_pred.seconds,
        "predict_cpu_seconds": t_pred.cpu,
        "metrics": metrics(p_la, data["test"][1], p_la_ood),
    }


def self_check(model, data):
    """KFAC equals the exact GGN block of a dense layer for a single example (N·G ⊗ A, compared on 300 random
    parameter indices); the last layer's G from per-class backward passes equals E[diag(p) − ppᵀ]; the all-layer
    predictive variance from hooked Jacobians equals the one from autograd Jacobians (every layer, conv included)."""
    x1 = data["train"][0][:1], data["train"][1][:1]
    gen = torch.Generator().manual_seed(0)
    out = {}
    for name, layer in (("fc1", model[7]), ("fc2", model[9])):
        k = kfac.fit_all_layers(model, [layer], x1, 1)[0][layer]
        A = k.q_a @ torch.diag(k.lam_a) @ k.q_a.T
        G = k.q_g @ torch.diag(k.lam_g) @ k.q_g.T
        idx = torch.randperm(k.numel(), generator=gen)[:300]
        p_a = A.shape[0]
        approx = G[idx // p_a][:, idx // p_a] * A[idx % p_a][:, idx % p_a]
        exact = kfac.exact_ggn_dense_block(model, layer, x1[0], idx)
        out[name] = float((approx - exact).abs().max() / exact.abs().max())
    direct = kfac.fit_last_layer(model[:-1], model[-1], x1, 1)[0][model[-1]]
    backward = kfac.fit_all_layers(model, [model[9]], x1, 1)[0][model[9]]
    g_direct = direct.q_g @ torch.diag(direct.lam_g) @ direct.q_g.T
    g_backward = backward.q_g @ torch.diag(backward.lam_g) @ backward.q_g.T
    out["last_layer_G_direct_vs_backward"] = float((g_direct - g_backward).abs().max() / g_direct.abs().max())
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    krons, _ = kfac.fit_all_layers(model, layers, (data["train"][0][:50], data["train"][1][:50]), 50)
    out["glm_variance_vs_autograd_jacobians"] = kfac.jacobian_variance_check(model, layers, krons, 1.0, x1[0])
    return out


def main():
    p = common.base_parser(__doc__.split("\n")[1], 15, "MAP training epochs (ignored with --load-model)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--load-model", default="", help="state dict of a trained LeNet-5-Caffe (skips training)")
    p.add_argument("--save-model", default="", help="save the MAP state dict here after training")
    p.add_argument("--subsets", default="last-layer,all", help="Laplace variants: last-layer, all (comma-separated)")
    p.add_argument("--fit-batch-size", type=int, default=500)
    p.add_argument("--predict-batch-size", type=int, default=500)
    p.add_argument("--jacobian-batch-size", type=int, default=100, help="batch for the all-layer predictive")
    p.add_argument("--grid-min", type=float, default=-4.0, help="log10 of the smallest prior precision on the grid")
    p.add_argument("--grid-max", type=float, default=4.0)
    p.add_argument("--grid-points", type=int, default=81)
    p.add_argument("--test-subset", type=int, default=0, help="use only the first N test and OOD images (0 = all)")
    p.add_argument("--self-check", action="store_true", help="also compare KFAC with the exact GGN on one example")
    args = p.parse_args()
    env = common.setup(args)
    data = common.load_data(args, need_ood=True)
    if args.test_subset:
        data["test"] = tuple(t[: args.test_subset] for t in data["test"])
        data["ood"] = tuple(t[: args.test_subset] for t in data["ood"])

    model = models.lenet5("plain")
    if args.load_model:
        model.load_state_dict(torch.load(args.load_model))
        train_times, train_cpu = [], []
    else:
        train_times, train_cpu = train_map(model, data["train"], args)
        if args.save_model:
            os.makedirs(os.path.dirname(os.path.abspath(args.save_model)), exist_ok=True)
            torch.save(model.state_dict(), args.save_model)
    model.eval()

    result = {
        "benchmark": "laplace_lenet5",
        "map": {
            "loaded_from": args.load_model or None,
            "epochs": 0 if args.load_model else args.epochs,
            "epoch_seconds": train_times,
            "epoch_cpu_seconds": train_cpu,
            "recipe": f"Adam lr {args.lr}, weight decay {args.weight_decay}, batch {args.batch_size}",
        },
        "curvature": "exact GGN (= Fisher for softmax CE) via one backward pass per class; KFC for convs",
        "prior": f"isotropic, marginal likelihood on 10^[{args.grid_min}, {args.grid_max}] ({args.grid_points} pts)",
        "predictive": "linearised, probit",
        "train_size": data["train"][0].shape[0],
        "test_size": data["test"][0].shape[0],
        "ood_size": data["ood"][0].shape[0],
    }
    subsets = args.subsets.split(",")
    if "last-layer" in subsets:
        _, result["last_layer"] = run_last_layer(model, data, args)
        common.log(f"last-layer: fit {result['last_layer']['fit_seconds']:.2f}s tau {result['last_layer']['prior_precision']:.3g}")
    if "all" in subsets:
        result["all_layers"] = run_all_layers(model, data, args)
        common.log(f"all layers: fit {result['all_layers']['fit_seconds']:.2f}s "
                   f"predict {result['all_layers']['predict_seconds']:.2f}s")
    with common.Timer() as t_map:
        with torch.no_grad():
            bs = args.predict_batch_size
            p_map = torch.cat([torch.softmax(model(data["test"][0][i : i + bs]), 1)
                               for i in range(0, data["test"][0].shape[0], bs)])
    with torch.no_grad():
        p_map_ood = torch.cat([torch.softmax(model(data["ood"][0][i : i + bs]), 1)
                               for i in range(0, data["ood"][0].shape[0], bs)])
    result["map"]["predict_seconds"] = t_map.seconds
    result["map"]["metrics"] = metrics(p_map, data["test"][1], p_map_ood)
    if args.self_check:
        result["self_check_relative_error"] = self_check(model, data)
    result["env"] = env
    assert not any(math.isnan(v) for v in result["map"]["metrics"].values())
    common.emit(result, args.json)


if __name__ == "__main__":
    main()
