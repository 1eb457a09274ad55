import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { bayesianLayers } from '../variational/index.js';
import {
  DEFAULT_PRUNE_THRESHOLDS,
  parseKlWeight,
  variationalTraining,
  type VariationalSetup,
} from './variational-method.js';

beforeAll(async () => {
  await initBackend();
});

function tinyNet(): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [6], units: 5, activation: 'relu' }),
      tf.layers.dense({ units: 3 }),
    ],
  });
}

function setup(overrides: Partial<VariationalSetup>): VariationalSetup {
  return {
    method: 'group-nj',
    objective: 'elbo',
    alpha: 0.5,
    samples: 1,
    klWeight: parseKlWeight('constant'),
    initLogSigma2: -10,
    ...overrides,
  };
}

describe('variationalTraining', () => {
  it('gives every layer its method’s pruning threshold unless one is given', () => {
    for (const method of ['sparse-vd', 'group-nj', 'group-hs', 'vnq'] as const) {
      const { model } = variationalTraining(tinyNet(), setup({ method }));
      const thresholds = bayesianLayers(model).map((l) => l.pruneThreshold);
      expect(thresholds).toEqual([DEFAULT_PRUNE_THRESHOLDS[method], DEFAULT_PRUNE_THRESHOLDS[method]]);
      model.dispose();
    }
    const { model } = variationalTraining(tinyNet(), setup({ method: 'group-nj', pruneThreshold: -1.5 }));
    expect(bayesianLayers(model).map((l) => l.pruneThreshold)).toEqual([-1.5, -1.5]);
    model.dispose();
  });

  it('starts the group scales at --group-init-log-sigma2 and refuses it for a method without groups', () => {
    const { model } = variationalTraining(tinyNet(), setup({ method: 'group-nj', groupInitLogSigma2: -4.5 }));
    const scaleLogSigma2 = model.weights.filter((w) => w.name.includes('z_log_sigma2'));
    expect(scaleLogSigma2).toHaveLength(2);
    for (const w of scaleLogSigma2) {
      const values = Array.from(w.read().dataSync());
      expect(values.length).toBeGreaterThan(0);
      for (const v of values) expect(v).toBeCloseTo(-4.5, 6);
    }
    model.dispose();
    expect(() =>
      variationalTraining(tinyNet(), setup({ method: 'sparse-vd', groupInitLogSigma2: -4 })),
    ).toThrow(/applies to group-nj and group-hs/);
  });
});
