"""Reference networks and Bayesian layers for the PyTorch benchmarks, written from the papers (see README.md).

Architectures (the bayescomp zoo must use the same shapes for a like-for-like timing):
- LeNet-300-100: dense 784-300-100-10, ReLU between layers.
- LeNet-5-Caffe: conv 5×5 (1→20, valid) → ReLU → max-pool 2×2 → conv 5×5 (20→50) → ReLU → max-pool 2×2 → flatten (800)
  → dense 500 → ReLU → dense 10. (PyTorch flattens channels-first; TF.js channels-last. Shapes and FLOPs are equal.)

Bayesian layers have a ``mode`` attribute: ``"lrt"`` (local reparameterisation: a fresh Gaussian pre-activation per
example — used for training and for the Monte-Carlo predictive), ``"weights"`` (one weight sample per forward pass,
shared by the batch), ``"mean"`` (posterior means with the pruning mask — the evaluation network).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

# Molchanov et al. 2017, eq. 14: −KL(q‖p) ≈ k1·σ(k2 + k3·log α) − ½·log(1 + 1/α) − k1 (fit on log α ∈ [−10, 10]).
K1, K2, K3 = 0.63576, 1.87320, 1.48695
EPS = 1e-8


def neg_kl_log_uniform(log_alpha):
    """Molchanov 2017 eq. 14, elementwise: k1·sigmoid(k2 + k3·log α) − 0.5·log1p(exp(−log α)) − k1 (≈ −KL)."""
    return K1 * torch.sigmoid(K2 + K3 * log_alpha) - 0.5 * F.softplus(-log_alpha) - K1


# ----------------------------------------------------------------------------------------------------- Sparse VD


class _SparseVD(nn.Module):
    """Sparse variational dropout (Molchanov, Ashukha, Vetrov 2017), additive parametrisation: q(w) = N(θ, σ²),
    log-uniform prior, log α = log σ² − log(θ² + 1e-8) clipped to [−10, 10]; weights with log α ≥ threshold are zero
    in the evaluation network. θ ~ N(0, 0.02²), log σ = −5 (log σ² = −10), bias 0 (deterministic), as in the
    deepbayes-2019 seminar recipe."""

    def __init__(self, shape, n_out, threshold=3.0, init_std=0.02, init_log_sigma=-5.0):
        super().__init__()
        self.theta = nn.Parameter(torch.empty(shape).normal_(0.0, init_std))
        self.log_sigma = nn.Parameter(torch.full(shape, init_log_sigma))
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.threshold = threshold
        self.mode = "lrt"

    def log_alpha(self):
        return (2.0 * self.log_sigma - torch.log(self.theta * self.theta + EPS)).clamp(-10.0, 10.0)

    def kl(self):
        """Σ over weights of the approximate KL(q(w)‖p(w)) (eq. 14 with the sign flipped)."""
        return -neg_kl_log_uniform(self.log_alpha()).sum()

    def mask(self):
        return (self.log_alpha() < self.threshold).to(self.theta.dtype)

    def _op(self, x, w, b):
        raise NotImplementedError

    def forward(self, x):
        if self.mode == "lrt":
            # local reparameterisation (Kingma et al. 2015): b ~ N(x·θ, x²·σ²) independently per example
            mu = self._op(x, self.theta, self.bias)
            var = self._op(x * x, torch.exp(2.0 * self.log_sigma), None) + EPS
            return mu + var.sqrt() * torch.randn_like(mu)
        if self.mode == "weights":
            w = self.theta + torch.exp(self.log_sigma) * torch.randn_like(self.theta)
            return self._op(x, w, self.bias)
        return self._op(x, self.theta * self.mask(), self.bias)


class SparseVDLinear(_SparseVD):
    def __init__(self, n_in, n_out, **kw):
        super().__init__((n_out, n_in), n_out, **kw)

    def _op(self, x, w, b):
        return F.linear(x, w, b)


class SparseVDConv2d(_SparseVD):
    """Conv version; the local reparameterisation uses conv(x, θ) and conv(x², σ²) (the mean-field approximation of
    seed 001, which ignores the correlation between overlapping patches that share a weight)."""

    def __init__(self, c_in, c_out, k, **kw):
        super().__init__((c_out, c_in, k, k), c_out, **kw)

    def _op(self, x, w, b):
        return F.conv2d(x, w, b)


# ------------------------------------------------------------------------------------------ group normal-Jeffreys


class _GroupNJ(nn.Module):
    """Group normal-Jeffreys (Louizos, Ullrich, Welling 2017, §3.1 and eq. 7–9): one scale z per group, q(z) =
    N(μ_z, σ_z²), q(w̃) = N(μ, σ²), w = z·w̃, prior p(z) ∝ 1/|z|, p(w̃) = N(0, 1). KL = Σ_groups KL_LU(log α_z) +
    Σ_w ½(−log σ² + σ² + μ² − 1) (biases included), log α_z = log σ_z² − log(μ_z² + 1e-8). Init μ_z ~ N(1, 0.01²),
    log σ_z² and log σ² ~ N(−9, 0.01²), μ ~ N(0, 1/fan_in)."""

    def __init__(self, shape, n_out, n_groups, fan_in, threshold=-3.0):
        super().__init__()
        self.weight_mu = nn.Parameter(torch.empty(shape).normal_(0.0, 1.0 / math.sqrt(fan_in)))
        self.weight_logvar = nn.Parameter(torch.empty(shape).normal_(-9.0, 1e-2))
        self.bias_mu = nn.Parameter(torch.zeros(n_out))
        self.bias_logvar = nn.Parameter(torch.empty(n_out).normal_(-9.0, 1e-2))
        self.z_mu = nn.Parameter(torch.empty(n_groups).normal_(1.0, 1e-2))
        self.z_logvar = nn.Parameter(torch.empty(n_groups).normal_(-9.0, 1e-2))
        self.threshold = threshold
        self.mode = "lrt"

    def group_log_alpha(self):
        return self.z_logvar - torch.log(self.z_mu * self.z_mu + EPS)

    def kl(self):
        kl_z = -neg_kl_log_uniform(self.group_log_alpha()).sum()
        kl_w = 0.5 * (-self.weight_logvar + self.weight_logvar.exp() + self.weight_mu**2 - 1.0).sum()
        kl_b = 0.5 * (-self.bias_logvar + self.bias_logvar.exp() + self.bias_mu**2 - 1.0).sum()
        return kl_z + kl_w + kl_b

    def sample_z(self, batch):
        eps = torch.randn(batch, self.z_mu.shape[0], dtype=self.z_mu.dtype)
        return self.z_mu + torch.exp(0.5 * self.z_logvar) * eps

    def group_mask(self):
        return (self.group_log_alpha() < self.threshold).to(self.z_mu.dtype)


class GroupNJLinear(_GroupNJ):
    """Groups are input neurons: z scales the layer's inputs, sampled per example (local reparameterisation)."""

    def __init__(self, n_in, n_out, **kw):
        super().__init__((n_out, n_in), n_out, n_in, n_in, **kw)

    def forward(self, x):
        if self.mode == "mean":
            return F.linear(x * (self.z_mu * self.group_mask()), self.weight_mu, self.bias_mu)
        xz = x * self.sample_z(x.shape[0])
        mu = F.linear(xz, self.weight_mu, self.bias_mu)
        var = F.linear(xz * xz, self.weight_logvar.exp(), self.bias_logvar.exp()) + EPS
        return mu + var.sqrt() * torch.randn_like(mu)


class GroupNJConv2d(_GroupNJ):
    """Groups are output filters: pre-activation = z_c·conv(x, w̃_c) + b_c with conv(x, μ) and conv(x², σ²) for the
    mean and variance of the conv part (local reparameterisation), z sampled per example and filter."""

    def __init__(self, c_in, c_out, k, **kw):
        super().__init__((c_out, c_in, k, k), c_out, c_out, c_in * k * k, **kw)

    def forward(self, x):
        if self.mode == "mean":
            w = self.weight_mu * (self.z_mu * self.group_mask())[:, None, None, None]
            return F.conv2d(x, w, self.bias_mu)
        mu = F.conv2d(x, self.weight_mu)
        var = F.conv2d(x * x, self.weight_logvar.exp())
        z = self.sample_z(x.shape[0])[:, :, None, None]
        out_mu = z * mu + self.bias_mu[None, :, None, None]
        out_var = z * z * var + self.bias_logvar.exp()[None, :, None, None] + EPS
        return out_mu + out_var.sqrt() * torch.randn_like(out_mu)


# -------------------------------------------------------------------------------------------------------- networks


def lenet300(kind="plain"):
    """LeNet-300-100 with plain nn.Linear, SparseVDLinear ('svd') or GroupNJLinear ('gnj') layers."""
    make = {"plain": nn.Linear, "svd": SparseVDLinear, "gnj": GroupNJLinear}[kind]
    return nn.Sequential(
        nn.Flatten(), make(784, 300), nn.ReLU(), make(300, 100), nn.ReLU(), make(100, 10)
    )


def lenet5(kind="plain"):
    """LeNet-5-Caffe (20-50-800-500) with plain, Sparse VD ('svd') or group normal-Jeffreys ('gnj') layers."""
    conv = {"plain": nn.Conv2d, "svd": SparseVDConv2d, "gnj": GroupNJConv2d}[kind]
    dense = {"plain": nn.Linear, "svd": SparseVDLinear, "gnj": GroupNJLinear}[kind]
    return nn.Sequential(
        conv(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2),
        conv(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), dense(800, 500), nn.ReLU(), dense(500, 10),
    )


def bayesian_layers(model):
    return [m for m in model.modules() if isinstance(m, (_SparseVD, _GroupNJ))]


def set_mode(model, mode):
    for m in bayesian_layers(model):
        m.mode = mode


def total_kl(model):
    return sum(m.kl() for m in bayesian_layers(model))


def weight_layers(model):
    """(name, module) of the layers that hold a weight matrix/kernel, in order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d, _SparseVD, _GroupNJ))]


def weight_shape(module):
    """Shape of a weight layer's matrix/kernel, whatever its parametrisation."""
    for name in ("weight", "theta", "weight_mu"):
        if isinstance(getattr(module, name, None), torch.Tensor):
            return tuple(getattr(module, name).shape)
    raise TypeError(f"{type(module).__name__} has no weight")


def count_params(model):
    return sum(p.numel() for p in model.parameters())
