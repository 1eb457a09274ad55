#!/usr/bin/python3
"""Monte-Carlo predictive of Sparse VD networks (LeNet-300-100 and LeNet-5-Caffe) over the 10k test images, S samples.

p(y|x) ≈ (1/S) Σ_s softmax(f(x; ε_s)). Noise: ``lrt`` (local reparameterisation, a fresh Gaussian pre-activation per
example and sample — what training uses) or ``weights`` (one weight sample per sample s, shared by the batch).
Strategies: ``loop`` runs S forward passes per batch of images; ``stacked`` runs one forward pass over a batch
repeated S times (``--stacked-rows`` rows, i.e. rows // S images per pass; lrt only, since a stacked batch cannot
share one weight sample per copy without S separate products). Weights are the Sparse VD initialisation unless ``--epochs`` > 0 (that many untimed training
epochs) or a state dict is loaded — this benchmark is about time; metrics are reported for sanity only.
"""

import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import models  # noqa: E402


def quick_train(model, data, epochs, seed):
    """Untimed Sparse VD training (N·CE + KL, Adam 1e-3, batch 100) so that the predictive is meaningful."""
    x, y = data
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    models.set_mode(model, "lrt")
    for epoch in range(1, epochs + 1):
        for xb, yb in common.minibatches(x, y, 100, gen):
            loss = F.cross_entropy(model(xb), yb) * x.shape[0] + min(1.0, 0.02 + 0.02 * epoch) * models.total_kl(model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        common.log(f"  trained epoch {epoch}/{epochs}")


def mc_predict(model, x, samples, batch_size, mode, strategy, stacked_rows):
    models.set_mode(model, mode)
    model.eval()
    if strategy == "stacked":
        batch_size = max(1, stacked_rows // samples)  # bound the stacked batch (memory and cache)
    out = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch_size):
            xb = x[i : i + batch_size]
            if strategy == "stacked":
                b = xb.shape[0]
                logits = model(xb.repeat(samples, *([1] * (xb.dim() - 1))))
                probs = torch.softmax(logits, 1).reshape(samples, b, -1).mean(0)
            else:
                probs = torch.zeros(xb.shape[0], 10)
                for _ in range(samples):
                    probs += torch.softmax(model(xb), 1)
                probs /= samples
            out.append(probs)
    return torch.cat(out)


def main():
    p = common.base_parser(__doc__.split("\n")[1], 0, "untimed Sparse VD training epochs before timing")
    p.add_argument("--samples", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=500, help="test images per forward pass (before stacking)")
    p.add_argument("--archs", default="lenet300,lenet5")
    p.add_argument("--modes", default="lrt", help="comma-separated: lrt, weights")
    p.add_argument("--strategies", default="loop,stacked", help="comma-separated: loop, stacked")
    p.add_argument("--load-lenet300", default="", help="Sparse VD LeNet-300-100 state dict (sparse_vd_lenet300.py)")
    p.add_argument("--load-lenet5", default="", help="Sparse VD LeNet-5-Caffe state dict")
    p.add_argument("--stacked-rows", type=int, default=3000,
                   help="rows per stacked forward pass (images per pass = rows // samples)")
    p.add_argument("--repeats", type=int, default=1, help="timed repetitions (the minimum is reported)")
    p.add_argument("--test-subset", type=int, default=0, help="use only the first N test images (0 = all)")
    args = p.parse_args()
    env = common.setup(args)
    data = common.load_data(args, need_train=args.epochs > 0)
    x_test, y_test = data["test"]
    if args.test_subset:
        x_test, y_test = x_test[: args.test_subset], y_test[: args.test_subset]
    results = {}
    for arch in args.archs.split(","):
        torch.manual_seed(args.seed)
        model = {"lenet300": models.lenet300, "lenet5": models.lenet5}[arch]("svd")
        source = "Sparse VD initialisation"
        load = {"lenet300": args.load_lenet300, "lenet5": args.load_lenet5}[arch]
        if load:
            model.load_state_dict(torch.load(load))
            source = load
        elif args.epochs:
            common.log(f"{arch}: training {args.epochs} epoch(s) (untimed)")
            quick_train(model, data["train"], args.epochs, args.seed)
            source = f"Sparse VD trained {args.epochs} epoch(s)"
        rec = {"weights": source, "runs": {}}
        with common.Timer() as t_det:
            with torch.no_grad():
                models.set_mode(model, "mean")
                model.eval()
                det = torch.cat([torch.softmax(model(x_test[i : i + args.batch_size]), 1)
                                 for i in range(0, x_test.shape[0], args.batch_size)])
        rec["deterministic_seconds"] = t_det.seconds
        rec["deterministic_metrics"] = common.classification_metrics(det, y_test)
        for mode in args.modes.split(","):
            for strategy in args.strategies.split(","):
                if strategy == "stacked" and mode != "lrt":
                    continue
                times, cpu = [], []
                for _ in range(args.repeats):
                    with common.Timer() as t:
                        probs = mc_predict(model, x_test, args.samples, args.batch_size, mode, strategy,
                                           args.stacked_rows)
                    times.append(t.seconds)
                    cpu.append(t.cpu)
                key = f"{mode}/{strategy}"
                rec["runs"][key] = {
                    "seconds": min(times),
                    "seconds_all": times,
                    "cpu_seconds": min(cpu),
                    "metrics": common.classification_metrics(probs, y_test),
                }
                common.log(f"{arch} {key}: {min(times):.2f}s for {x_test.shape[0]} images x {args.samples} samples")
        rec["best_seconds"] = min(r["seconds"] for r in rec["runs"].values())
        results[arch] = rec
    result = {
        "benchmark": "mc_predictive",
        "samples": args.samples,
        "images": int(x_test.shape[0]),
        "batch_size": args.batch_size,
        "results": results,
        "env": env,
    }
    common.emit(result, args.json)


if __name__ == "__main__":
    main()
