#!/usr/bin/python3
"""One-epoch timings on LeNet-5-Caffe (20-50-800-500), Fashion-MNIST, batch 100, Adam 1e-3: plain deterministic,
Sparse VD (local reparameterisation; conv(x, θ) and conv(x², σ²)), group normal-Jeffreys (Louizos 2017)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import epoch_timing  # noqa: E402

if __name__ == "__main__":
    epoch_timing.main("lenet5", __doc__.split("\n")[1], "plain,svd,gnj")
