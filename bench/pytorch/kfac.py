"""Kronecker-factored generalised Gauss–Newton (KFAC-GGN) Laplace for a softmax classifier made of nn.Linear and
nn.Conv2d layers, written from Ritter et al. 2018 and Grosse & Martens 2016 (KFC), with laplace-style marginal
likelihood and the probit predictive (Daxberger et al. 2021, seed 002 eq. 18).

Conventions (the bayescomp side must compute the same quantities for a like-for-like timing):
- A weight layer's parameters are W̄ = [W | b] of shape (out, in+1) (a conv kernel flattened as (C_out, C_in·k·k) in
  the order of ``F.unfold``); the layer input is augmented with a trailing 1.
- Curvature: the exact GGN of the mean cross-entropy. Λ = diag(p) − ppᵀ is factorised as Σ_c l_c l_cᵀ with
  l_c = √p_c·(e_c − p), and one backward pass per class c from the logits with grad l_c gives pre-activation
  gradients g_c. KFAC per layer: A = (1/N) Σ_n a aᵀ, G = (1/N) Σ_n Σ_c g_c g_cᵀ; for conv (KFC) A sums over the
  spatial positions t of the patches and G averages over them: A = (1/N) Σ_n Σ_t a_t a_tᵀ, G = (1/N) Σ_n Σ_c (1/T)
  Σ_t g_{c,t} g_{c,t}ᵀ. For the last layer g_c = l_c, so G = (1/N) Σ_n Λ_n without any backward pass.
- GGN ≈ N·(G ⊗ A) per layer. Posterior precision with the exact isotropic prior τ in the eigenbasis:
  eigenvalues N·λ_G,i·λ_A,j + τ (eigendecompositions in float64).
- log marginal likelihood (Laplace): log p(D|θ*) − ½ (log det P − D·log τ + τ‖θ*‖²), maximised over a log grid of τ.
- Predictive: linearised (GLM) with the probit approximation, p = softmax(f / √(1 + π/8 · diag Σ_f)),
  Σ_f = J Σ Jᵀ; only the diagonal of Σ_f is formed.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def _augment(x):
    return torch.cat([x, torch.ones(*x.shape[:-1], 1, dtype=x.dtype)], dim=-1)


def layer_input(module, x):
    """Augmented layer inputs: dense (B, in+1); conv patches (B, T, C_in·k·k + 1)."""
    if isinstance(module, nn.Conv2d):
        patches = F.unfold(x, module.kernel_size, dilation=module.dilation, padding=module.padding,
                           stride=module.stride)
        return _augment(patches.transpose(1, 2))
    return _augment(x)


def flat_weight(module):
    """[W | b] with shape (out, in+1)."""
    w = module.weight.reshape(module.weight.shape[0], -1)
    return torch.cat([w, module.bias[:, None]], dim=1)


class Kron:
    """Eigendecomposed Kronecker factors of one layer: precision eigenvalues N·λ_G ⊗ λ_A + τ."""

    def __init__(self, A, G, n):
        la, qa = torch.linalg.eigh(A.double())
        lg, qg = torch.linalg.eigh(G.double())
        self.lam_a, self.q_a = la.clamp_min(0.0), qa
        self.lam_g, self.q_g = lg.clamp_min(0.0), qg
        self.n = n

    def curvature_eigs(self):
        return self.n * self.lam_g[:, None] * self.lam_a[None, :]

    def logdet(self, tau):
        return torch.log(self.curvature_eigs() + tau).sum()

    def variances_in_eigenbasis(self, tau):
        """D_ij = 1 / (N λ_G,i λ_A,j + τ): posterior variances of Q_Gᵀ W̄ Q_A."""
        return 1.0 / (self.curvature_eigs() + tau)

    def numel(self):
        return self.lam_a.numel() * self.lam_g.numel()


class _Recorder:
    """Forward hooks that keep each chosen layer's input and output (the pre-activation, kept in the graph)."""

    def __init__(self, layers):
        self.layers = layers
        self.inputs, self.outputs = {}, {}
        self.handles = [m.register_forward_hook(self._hook) for m in layers]

    def _hook(self, module, inputs, output):
        self.inputs[module] = inputs[0].detach()
        self.outputs[module] = output

    def close(self):
        for h in self.handles:
            h.remove()


def fit_last_layer(features, last, x, batch_size):
    """A, G and Σ_n CE for the last nn.Linear of a network (features → last); G = E[diag(p) − ppᵀ]."""
    n = x[0].shape[0]
    d_in, d_out = last.in_features + 1, last.out_features
    A = torch.zeros(d_in, d_in, dtype=torch.float64)
    G = torch.zeros(d_out, d_out, dtype=torch.float64)
    nll = 0.0
    with torch.no_grad():
        for i in range(0, n, batch_size):
            xb, yb = x[0][i : i + batch_size], x[1][i : i + batch_size]
            phi = features(xb)
            logits = last(phi)
            a = _augment(phi)
            A += (a.T @ a).double()
            p = torch.softmax(logits, 1)
            G += (torch.diag(p.sum(0)) - p.T @ p).double()
            nll += float(F.cross_entropy(logits, yb, reduction="sum"))
    return {last: Kron(A / n, G / n, n)}, nll


def fit_all_layers(model, layers, data, batch_size):
    """KFAC factors for every layer in ``layers`` with one backward pass per class per batch (exact GGN)."""
    x_all, y_all = data
    n = x_all.shape[0]
    A, G = {}, {}
    rec = _Recorder(layers)
    nll = 0.0
    try:
        for i in range(0, n, batch_size):
            xb, yb = x_all[i : i + batch_size], y_all[i : i + batch_size]
            logits = model(xb)
            p = torch.softmax(logits.detach(), 1)
            nll += float(F.cross_entropy(logits.detach(), yb, reduction="sum"))
            outs = [rec.outputs[m] for m in layers]
            k = p.shape[1]
            sqrt_p = p.sqrt()
            grads = {m: [] for m in layers}
            for c in range(k):
                l_c = -sqrt_p[:, c : c + 1] * p
                l_c[:, c] += sqrt_p[:, c]
                gs = torch.autograd.grad(logits, outs, grad_outputs=l_c, retain_graph=c < k - 1)
                for m, g in zip(layers, gs):
                    grads[m].append(g)
            for m in layers:
                a = layer_input(m, rec.inputs[m])
                g = torch.stack(grads[m], dim=1)  # (B, K, out) or (B, K, C_out, H, W)
                if isinstance(m, nn.Conv2d):
                    a2 = a.reshape(-1, a.shape[-1])
                    g2 = g.flatten(3).transpose(2, 3).reshape(-1, g.shape[2])
                    t = g.shape[3] * g.shape[4]
                    a_term, g_term = a2.T @ a2, (g2.T @ g2) / t
                else:
                    g2 = g.reshape(-1, g.shape[-1])
                    a_term, g_term = a.T @ a, g2.T @ g2
                A[m] = A.get(m, 0) + a_term.double()
                G[m] = G.get(m, 0) + g_term.double()
    finally:
        rec.close()
    return {m: Kron(A[m] / n, G[m] / n, n) for m in layers}, nll


def log_marglik(krons, params_sq_norm, nll_sum, tau):
    """log p(D|θ*) − ½ (log det P − D log τ + τ‖θ*‖²) for an isotropic prior precision τ."""
    d = sum(k.numel() for k in krons.values())
    logdet = sum(float(k.logdet(tau)) for k in krons.values())
    return -nll_sum - 0.5 * (logdet - d * math.log(tau) + tau * params_sq_norm)


def optimise_prior(krons, params_sq_norm, nll_sum, grid):
    values = [log_marglik(krons, params_sq_norm, nll_sum, float(t)) for t in grid]
    best = max(range(len(grid)), key=lambda i: values[i])
    return float(grid[best]), values


def probit(logits, var):
    return torch.softmax(logits / torch.sqrt(1.0 + math.pi / 8.0 * var), dim=1)


def predict_last_layer(features, last, kron, tau, x, batch_size):
    """Probit GLM predictive for a last-layer Laplace: var f_k = Σ_i Q_G[k,i]² Σ_j (Q_Aᵀa)_j² D_ij."""
    d = kron.variances_in_eigenbasis(tau).float()
    q_a, q_g2 = kron.q_a.float(), (kron.q_g**2).float()
    out_map, out_la = [], []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch_size):
            phi = features(x[i : i + batch_size])
            f = last(phi)
            a_rot = _augment(phi) @ q_a
            v = (a_rot * a_rot) @ d.T
            var = v @ q_g2.T
            out_map.append(torch.softmax(f, 1))
            out_la.append(probit(f, var))
    return torch.cat(out_map), torch.cat(out_la)


def glm_variance(model, layers, rot, xb, rec):
    """Logits and diag Σ_f for a batch: per-example Jacobians of every logit (one backward pass per class);
    dense: J_k = g_k ⊗ a; conv: J_k = Σ_t g_{k,t} a_tᵀ; var f_k = Σ_layers Σ_ij (Q_Gᵀ J_k Q_A)_ij² D_ij."""
    logits = model(xb)
    k = logits.shape[1]
    outs = [rec.outputs[m] for m in layers]
    grads = {m: [] for m in layers}
    for c in range(k):
        gs = torch.autograd.grad(logits[:, c].sum(), outs, retain_graph=c < k - 1)
        for m, g in zip(layers, gs):
            grads[m].append(g)
    var = torch.zeros(logits.shape)
    for m in layers:
        q_a, q_g, d = rot[m]
        a = layer_input(m, rec.inputs[m])
        g = torch.stack(grads[m], dim=1)
        if isinstance(m, nn.Conv2d):
            # Q_Gᵀ (Σ_t g_t a_tᵀ) Q_A = Σ_t (Q_Gᵀ g_t)(Q_Aᵀ a_t)ᵀ: rotate the factors before the sum over t
            g_rot = torch.einsum("ci,bkct->bkit", q_g, g.flatten(3))  # (B, K, C_out, T)
            jac_rot = torch.einsum("bkit,btj->bkij", g_rot, a @ q_a)
            var += torch.einsum("bkij,ij->bk", jac_rot * jac_rot, d)
        else:
            a_rot = a @ q_a  # (B, in+1)
            g_rot = g @ q_g  # (B, K, out)
            v = (a_rot * a_rot) @ d.T  # (B, out)
            var += torch.einsum("bki,bi->bk", g_rot * g_rot, v)
    return logits.detach(), var


def rotations(krons, layers, tau):
    return {m: (krons[m].q_a.float(), krons[m].q_g.float(), krons[m].variances_in_eigenbasis(tau).float())
            for m in layers}


def predict_all_layers(model, layers, krons, tau, x, batch_size):
    """Probit GLM predictive of an all-layer KFAC Laplace (see ``glm_variance``)."""
    rot = rotations(krons, layers, tau)
    rec = _Recorder(layers)
    out_map, out_la = [], []
    try:
        for i in range(0, x.shape[0], batch_size):
            f, var = glm_variance(model, layers, rot, x[i : i + batch_size], rec)
            out_map.append(torch.softmax(f, 1))
            out_la.append(probit(f, var))
    finally:
        rec.close()
    return torch.cat(out_map), torch.cat(out_la)


def _with_flat_params(model, layer, wflat, xi):
    """Logits of ``model`` at ``xi`` with ``layer``'s [W | b] replaced by ``wflat`` (for autograd Jacobians)."""
    orig_w, orig_b = layer.weight, layer.bias
    w = wflat.reshape(orig_w.shape[0], -1)
    del layer.weight, layer.bias
    layer.weight, layer.bias = w[:, :-1].reshape(orig_w.shape), w[:, -1]
    try:
        return model(xi)[0]
    finally:
        del layer.weight, layer.bias
        layer.weight, layer.bias = orig_w, orig_b


def jacobian_variance_check(model, layers, krons, tau, x1):
    """Relative difference between ``glm_variance`` and the same variance from autograd Jacobians (one example)."""
    rot = rotations(krons, layers, tau)
    rec = _Recorder(layers)
    try:
        _, var = glm_variance(model, layers, rot, x1, rec)
    finally:
        rec.close()
    ref = torch.zeros(var.shape[1], dtype=torch.float64)
    for m in layers:
        q_a, q_g, d = (t.double() for t in rot[m])
        w0 = flat_weight(m).detach().clone()
        jac = torch.autograd.functional.jacobian(lambda w: _with_flat_params(model, m, w, x1), w0.reshape(-1))
        jac = jac.reshape(-1, *w0.shape).double()  # (K, out, in+1)
        ref += ((q_g.T @ jac @ q_a) ** 2 * d).sum(dim=(1, 2))
    return float(((var[0].double() - ref).abs() / ref.abs()).max())


def exact_ggn_dense_block(model, layer, x, idx):
    """Rows/columns ``idx`` of the GGN block Σ_n J_nᵀ Λ_n J_n for one layer (parameters [W | b], row-major), from
    autograd Jacobians: the independent check that KFAC equals it for a single example of a dense layer."""
    w0 = flat_weight(layer).detach().clone().reshape(-1)
    total = 0
    for n in range(x.shape[0]):
        xi = x[n : n + 1]
        jac = torch.autograd.functional.jacobian(lambda w: _with_flat_params(model, layer, w, xi), w0)[:, idx].double()
        with torch.no_grad():
            p = torch.softmax(model(xi)[0], 0).double()
        total = total + jac.T @ (torch.diag(p) - torch.outer(p, p)) @ jac
    return total
