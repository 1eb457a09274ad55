#!/usr/bin/python3
"""One-epoch timings on LeNet-300-100, Fashion-MNIST, batch 100, Adam 1e-3: plain deterministic and Sparse VD (local
reparameterisation, KL every step); group normal-Jeffreys on request (--methods plain,svd,gnj)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import epoch_timing  # noqa: E402

if __name__ == "__main__":
    epoch_timing.main("lenet300", __doc__.split("\n")[1], "plain,svd")
