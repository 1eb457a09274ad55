import type { OptimizerSpec } from '../../train/optimizers.js';

const f = Math.fround;

/**
 * An optimiser over one contiguous range of a flat parameter vector, in plain JavaScript on typed arrays, with the
 * update rules of the TF.js optimisers `createOptimizer` builds (each operation rounded to float32 as TF.js does, so
 * runs agree with `train` to float32 rounding). Data-parallel workers each update their own range of the summed
 * gradient — the update is split between them instead of repeated by each — and exchange the new values; one pass
 * over a typed array also costs less than the TF.js optimisers' one kernel per operation.
 *
 * Rules (TF.js 4.22): SGD θ ← θ − η g; momentum a ← μ a + g, θ ← θ − η a (Nesterov: θ ← θ − η (g + μ a));
 * RMSProp s ← ρ s + (1 − ρ) g², m ← μ m + η g / √(s + ε) (centred: c ← ρ c + (1 − ρ) g, √(s − (c² + ε))), θ ← θ − m;
 * Adam (Kingma & Ba 2015, Alg. 1) m ← β₁ m + (1 − β₁) g, v ← β₂ v + (1 − β₂) g², θ ← θ − η m̂ / (√v̂ + ε) with
 * m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ), the powers kept as running float32 products.
 */
export class FlatOptimizer {
  private readonly slots: Float32Array[];
  private beta1Power: number;
  private beta2Power: number;

  constructor(
    private readonly spec: OptimizerSpec,
    /** Values in this optimiser's range. */
    readonly length: number,
  ) {
    const slotCount = { sgd: 0, momentum: 1, adam: 2, rmsprop: spec.centered ? 3 : 2 }[spec.name];
    this.slots = Array.from({ length: slotCount }, () => new Float32Array(length));
    this.beta1Power = f(spec.beta1 ?? 0.9);
    this.beta2Power = f(spec.beta2 ?? 0.999);
  }

  /**
   * One step: `params[offset + i]` for i in [0, length) from `gradient[i]`, with learning rate η. With `decay`, the
   * parameters where `decay.mask[i]` is 1 are first multiplied by `decay.factor` (1 − η·λ, decoupled weight decay,
   * as `applyDecoupledWeightDecay`).
   */
  step(
    params: Float32Array,
    offset: number,
    gradient: Float32Array,
    learningRate: number,
    decay?: { readonly factor: number; readonly mask: Uint8Array },
  ): void {
    const n = this.length;
    if (decay) {
      const factor = f(decay.factor);
      for (let i = 0; i < n; i++) if (decay.mask[i]) params[offset + i] = f(params[offset + i] * factor);
    }
    const lr = f(learningRate);
    const spec = this.spec;
    switch (spec.name) {
      case 'sgd': {
        const c = f(-lr);
        for (let i = 0; i < n; i++) params[offset + i] = f(f(c * gradient[i]) + params[offset + i]);
        return;
      }
      case 'momentum': {
        const [acc] = this.slots;
        const mu = f(spec.momentum ?? 0.9);
        const c = f(-lr);
        for (let i = 0; i < n; i++) {
          const a = f(f(mu * acc[i]) + gradient[i]);
          acc[i] = a;
          const direction = spec.nesterov ? f(gradient[i] + f(a * mu)) : a;
          params[offset + i] = f(f(c * direction) + params[offset + i]);
        }
        return;
      }
      case 'rmsprop': {
        const [ms, mom, mg] = this.slots;
        const rho = f(spec.rmsDecay ?? 0.99);
        const oneMinusRho = f(1 - (spec.rmsDecay ?? 0.99));
        const mu = f(spec.momentum ?? 0);
        const eps = f(spec.epsilon ?? 1e-8);
        for (let i = 0; i < n; i++) {
          const g = gradient[i];
          const s = f(f(ms[i] * rho) + f(f(g * g) * oneMinusRho));
          ms[i] = s;
          let denominator: number;
          if (mg) {
            const c = f(f(mg[i] * rho) + f(g * oneMinusRho));
            mg[i] = c;
            denominator = f(Math.sqrt(f(s - f(f(c * c) + eps))));
          } else denominator = f(Math.sqrt(f(s + eps)));
          const m = f(f(mom[i] * mu) + f(f(g * lr) / denominator));
          mom[i] = m;
          params[offset + i] = f(params[offset + i] - m);
        }
        return;
      }
      case 'adam': {
        const [m, v] = this.slots;
        const beta1 = spec.beta1 ?? 0.9;
        const beta2 = spec.beta2 ?? 0.999;
        const eps = spec.epsilon ?? 1e-8;
        // Intermediate values in double precision, stored values in float32: within a few float32 ulps of TF.js.
        const inverse1 = 1 / (1 - this.beta1Power);
        const inverse2 = 1 / (1 - this.beta2Power);
        for (let i = 0; i < n; i++) {
          const g = gradient[i];
          const mi = beta1 * m[i] + (1 - beta1) * g;
          const vi = beta2 * v[i] + (1 - beta2) * g * g;
          m[i] = mi;
          v[i] = vi;
          params[offset + i] -= (lr * mi * inverse1) / (Math.sqrt(vi * inverse2) + eps);
        }
        this.beta1Power = f(this.beta1Power * f(beta1));
        this.beta2Power = f(this.beta2Power * f(beta2));
        return;
      }
    }
  }
}
