import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/backend.js';
import { logUniformKlScalar } from '../logUniformKl.js';
import { quantizingPriorKlPerWeight, vnqCodebookIndices, VNQ_TAU } from './quantizingPrior.js';

beforeAll(async () => {
  await initBackend();
});

const clip = (x: number) => Math.max(-10, Math.min(10, x));

/** Eq. 16–17 of Achterhold et al. 2018 in float64 for one weight (the negative of their F_KL). */
function referenceKl(theta: number, logSigma2: number, centres: number[], tau = VNQ_TAU): number {
  let omegaSum = 0;
  let total = 0;
  for (const c of centres) {
    const d = theta - c;
    const omega = Math.exp(-(d * d) / (2 * tau * tau));
    omegaSum += omega;
    total += omega * logUniformKlScalar(clip(logSigma2 - Math.log(d * d + 1e-8)));
  }
  return (
    total + Math.max(0, 1 - omegaSum) * logUniformKlScalar(clip(logSigma2 - Math.log(theta * theta + 1e-8)))
  );
}

function perWeight(theta: number[], logSigma2: number[], centres: number[]): number[] {
  return tf.tidy(() =>
    Array.from(
      quantizingPriorKlPerWeight(tf.tensor1d(theta), tf.tensor1d(logSigma2), tf.tensor1d(centres)).dataSync(),
    ),
  );
}

describe('quantizing prior KL (VNQ, Achterhold et al. 2018, eq. 16–17)', () => {
  it('equals the reference formula on a spread of (θ, σ²) with r = 0.2', () => {
    const theta: number[] = [];
    const logSigma2: number[] = [];
    for (const t of [-0.5, -0.21, -0.2, -0.15, -0.1, -0.03, 0, 0.01, 0.08, 0.12, 0.19, 0.26, 0.4])
      for (const ls of [-9, -5, -2, 0]) {
        theta.push(t);
        logSigma2.push(ls);
      }
    const got = perWeight(theta, logSigma2, [-0.2, 0.2]);
    got.forEach((value, k) => {
      const expected = referenceKl(theta[k], logSigma2[k], [-0.2, 0.2]);
      expect(Math.abs(value - expected)).toBeLessThan(1e-4 * Math.abs(expected) + 1e-5);
    });
  });

  it('reduces to the Sparse VD approximation away from the non-zero spikes (|θ − c_k| ≫ τ)', () => {
    const theta = [0, 0.01, -0.01, 0.1, -0.15, 2.5, -3];
    const logSigma2 = [-8, -6, -3, -4, -1, -2, 0];
    const got = perWeight(theta, logSigma2, [-1, 1]);
    got.forEach((value, k) => {
      const sparseVd = logUniformKlScalar(clip(logSigma2[k] - Math.log(theta[k] ** 2 + 1e-8)));
      expect(Math.abs(value - sparseVd)).toBeLessThan(1e-5 * sparseVd + 1e-6);
    });
  });

  it('near a non-zero spike it is the log-uniform KL centred at the spike', () => {
    const r = 0.2;
    const theta = [r + 1e-4, -r - 2e-4, r - 5e-5, r + 1e-4];
    const logSigma2 = [-9, -12, -10, -2];
    const got = perWeight(theta, logSigma2, [-r, r]);
    got.forEach((value, k) => {
      const d = Math.fround(Math.abs(theta[k])) - Math.fround(r);
      const centred = logUniformKlScalar(clip(logSigma2[k] - Math.log(d * d + 1e-8)));
      expect(Math.abs(value - centred)).toBeLessThan(2e-3 * centred + 5e-5);
    });
  });

  it('is symmetric under θ → −θ for the symmetric codebook', () => {
    const theta = Array.from({ length: 41 }, (_, i) => -0.4 + i * 0.02);
    const logSigma2 = theta.map((_, i) => -9 + (i % 7));
    const a = perWeight(theta, logSigma2, [-0.2, 0.2]);
    const b = perWeight(
      theta.map((t) => -t),
      logSigma2,
      [-0.2, 0.2],
    );
    a.forEach((value, k) => expect(Math.abs(value - b[k])).toBeLessThan(1e-5 * Math.abs(value) + 1e-6));
  });

  it('for a fixed small σ its minima over θ lie at the codebook values [−r, 0, r]', () => {
    const r = 0.2;
    const step = 0.0005;
    const theta = Array.from({ length: 1601 }, (_, i) => -0.4 + i * step);
    const kl = perWeight(
      theta,
      theta.map(() => -8),
      [-r, r],
    );
    const minima: number[] = [];
    for (let i = 1; i < theta.length - 1; i++) {
      // Plateau-aware: a local minimum is a value not above either neighbour and strictly below some value nearby.
      if (kl[i] <= kl[i - 1] && kl[i] <= kl[i + 1] && (kl[i] < kl[i - 1] || kl[i] < kl[i + 1]))
        minima.push(theta[i]);
    }
    const groups: number[] = [];
    for (const t of minima) if (!groups.some((g) => Math.abs(g - t) < 0.01)) groups.push(t);
    expect(groups.length).toBe(3);
    groups.sort((x, y) => x - y);
    [-r, 0, r].forEach((c, k) => expect(Math.abs(groups[k] - c)).toBeLessThan(2 * step));
    // And the spikes are clearly preferred over the points between them.
    const at = (t: number) => kl[Math.round((t + 0.4) / step)];
    expect(at(0.1)).toBeGreaterThan(at(0.2) + 1);
    expect(at(0.1)).toBeGreaterThan(at(0) + 1);
  });

  it('snaps to the nearest codebook value and prunes log α ≥ threshold to 0', () => {
    const codebook = tf.tensor1d([-0.2, 0, 0.2]);
    const theta = tf.tensor1d([0.19, -0.22, 0.02, 0.09, 0.11, -0.35, 0.5]);
    const logAlpha = tf.tensor1d([-5, -4, 3.5, -2, -6, -1, 3]);
    const indices = vnqCodebookIndices(theta, logAlpha, codebook, 3);
    expect(Array.from(indices.dataSync())).toEqual([2, 0, 1, 1, 2, 0, 1]);
    tf.dispose([codebook, theta, logAlpha, indices]);
  });
});
