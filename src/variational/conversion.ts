import * as tf from '@tensorflow/tfjs';
import { noiseSource } from './noise.js';
import type { Random } from '../runtime/random.js';
import { BayescompError } from '../util/errors.js';
import { BayesianConv2D } from './bayesianConv2d.js';
import { BayesianDense } from './bayesianDense.js';
import type { PredictionMode, Reparameterisation } from './bayesianLayer.js';
import { BayesianLayer } from './bayesianLayer.js';
import type { FamilySpec } from './families/posteriorFamily.js';

type ConfigDict = tf.serialization.ConfigDict;

/** Options of {@link toBayesian}. */
export interface ToBayesianOptions {
  /** Posterior/prior family of the converted kernels. Default mean-field Gaussian, N(0, 1) prior. */
  readonly family?: FamilySpec;
  /** Names of the Dense/Conv2D layers to convert, or `all` (default). */
  readonly layers?: readonly string[] | 'all';
  /** Initial log σ² of every converted weight (posterior means are the trained weights). Default −10. */
  readonly initLogSigma2?: number;
  /** Reparameterisation of the converted layers. Default `local`. */
  readonly reparameterisation?: Reparameterisation;
  /** Family of Bayesian biases; absent keeps biases deterministic (at their trained values). */
  readonly biasFamily?: FamilySpec | null;
  /** Prediction mode of the converted layers. Default `sample`. */
  readonly predictionMode?: PredictionMode;
  /** log α pruning threshold. Default 3. */
  readonly pruneThreshold?: number;
}

/** Keys of a layer config every layer understands (kept when a layer changes class). */
const BASE_KEYS = ['name', 'trainable', 'batchInputShape', 'dtype'] as const;

function baseConfig(config: ConfigDict): ConfigDict {
  const out: ConfigDict = {};
  for (const key of BASE_KEYS) if (config[key] !== undefined) out[key] = config[key];
  return out;
}

interface LayerEntry {
  className: string;
  config: ConfigDict;
  [key: string]: unknown;
}

/** The model's config with its layer entries, for rewriting (works for Sequential and functional models). */
function layerEntries(model: tf.LayersModel): { config: ConfigDict; entries: LayerEntry[] } {
  const config = JSON.parse(JSON.stringify(model.getConfig())) as ConfigDict;
  const layers = (Array.isArray(config) ? config : config.layers) as unknown as LayerEntry[] | undefined;
  if (!Array.isArray(layers))
    throw new BayescompError('bad-format', `model '${model.name}' has no layer list in its config`);
  return { config, entries: layers };
}

function rebuild(model: tf.LayersModel, config: ConfigDict): tf.LayersModel {
  return (
    model instanceof tf.Sequential
      ? tf.Sequential.fromConfig(tf.Sequential, config)
      : tf.LayersModel.fromConfig(tf.LayersModel, config)
  ) as tf.LayersModel;
}

function stringOption(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

/**
 * Turns a trained model into a Bayesian one: each chosen `Dense`/`Conv2D` layer becomes a {@link BayesianDense} /
 * {@link BayesianConv2D} whose posterior means are the trained weights and whose variances are small
 * (`exp(initLogSigma2)`); every other layer (Flatten, Dropout, pooling, activations, …) is rebuilt from its config
 * with its weights. Works for Sequential and functional models; nested models are not looked into. Regularisers and
 * constraints of converted layers are dropped (the prior takes their place). The input model is left untouched.
 */
export function toBayesian(model: tf.LayersModel, options: ToBayesianOptions = {}): tf.LayersModel {
  const { config, entries } = layerEntries(model);
  const wanted = options.layers ?? 'all';
  const convertible = new Set(['Dense', 'Conv2D']);
  const chosen = new Set<string>();
  for (const entry of entries) {
    const name = String(entry.config.name);
    if (!convertible.has(entry.className)) continue;
    if (wanted === 'all' || wanted.includes(name)) chosen.add(name);
  }
  if (wanted !== 'all') {
    for (const name of wanted) {
      const entry = entries.find((e) => e.config.name === name);
      if (!entry) throw new BayescompError('bad-config', `toBayesian: model has no layer named '${name}'`);
      if (!convertible.has(entry.className)) {
        throw new BayescompError(
          'bad-config',
          `toBayesian: layer '${name}' is a ${entry.className}, not Dense or Conv2D`,
        );
      }
    }
  }
  const bayesian: ConfigDict = {
    family: (options.family ?? { name: 'gaussian', options: {} }) as unknown as ConfigDict,
    biasFamily: (options.biasFamily ?? null) as unknown as ConfigDict,
    reparameterisation: options.reparameterisation ?? 'local',
    predictionMode: options.predictionMode ?? 'sample',
    pruneThreshold: options.pruneThreshold ?? 3,
  };
  for (const entry of entries) {
    if (!chosen.has(String(entry.config.name))) continue;
    const c = entry.config;
    const common = {
      ...baseConfig(c),
      ...bayesian,
      activation: stringOption(c.activation, 'linear'),
      useBias: c.useBias ?? true,
    };
    if (entry.className === 'Dense') {
      entry.className = BayesianDense.className;
      entry.config = { ...common, units: c.units };
    } else {
      if (c.dataFormat !== undefined && c.dataFormat !== 'channelsLast') {
        throw new BayescompError(
          'bad-config',
          `toBayesian: layer '${String(c.name)}' uses ${String(c.dataFormat)}; only channelsLast is supported`,
        );
      }
      entry.className = BayesianConv2D.className;
      entry.config = {
        ...common,
        filters: c.filters,
        kernelSize: c.kernelSize,
        strides: c.strides ?? 1,
        padding: c.padding ?? 'valid',
        dilationRate: c.dilationRate ?? 1,
      };
    }
  }
  const converted = rebuild(model, config);
  const initLogSigma2 = options.initLogSigma2 ?? -10;
  for (const layer of converted.layers) {
    const source = model.getLayer(layer.name);
    const weights = source.getWeights();
    if (layer instanceof BayesianLayer) {
      layer.family().initialise(weights[0], initLogSigma2);
      if (weights[1]) {
        if (layer.biasFamily) layer.biasFamily.initialise(weights[1], initLogSigma2);
        else layer.biasVariable?.write(weights[1]);
      }
    } else if (weights.length > 0) {
      layer.setWeights(weights);
    }
  }
  return converted;
}

/** Options of {@link toDeterministic}. */
export interface ToDeterministicOptions {
  /**
   * Which weights the plain layers get: `mean` (posterior means), `pruned-mean` (means with log α ≥ threshold set to
   * zero), or `sample` (one draw from the posterior). Default `mean`.
   */
  readonly use?: 'mean' | 'pruned-mean' | 'sample';
  /** Generator for `sample`. Default: the current noise source. */
  readonly random?: Random;
}

/**
 * The plain-TF.js counterpart of a Bayesian model: every {@link BayesianDense}/{@link BayesianConv2D} becomes a stock
 * `Dense`/`Conv2D` with the chosen weights (other layers keep theirs), so the result saves and loads with stock
 * TF.js, without bayescomp's registered classes.
 */
export function toDeterministic(model: tf.LayersModel, options: ToDeterministicOptions = {}): tf.LayersModel {
  const use = options.use ?? 'mean';
  const { config, entries } = layerEntries(model);
  for (const entry of entries) {
    const c = entry.config;
    const common = {
      ...baseConfig(c),
      activation: stringOption(c.activation, 'linear'),
      useBias: c.useBias ?? true,
    };
    if (entry.className === BayesianDense.className) {
      entry.className = 'Dense';
      entry.config = { ...common, units: c.units };
    } else if (entry.className === BayesianConv2D.className) {
      entry.className = 'Conv2D';
      entry.config = {
        ...common,
        filters: c.filters,
        kernelSize: c.kernelSize,
        strides: c.strides,
        padding: c.padding,
        dilationRate: c.dilationRate,
        dataFormat: 'channelsLast',
      };
    }
  }
  const plain = rebuild(model, config);
  const random = options.random ?? noiseSource();
  for (const layer of plain.layers) {
    const source = model.getLayer(layer.name);
    if (source instanceof BayesianLayer) {
      const weights = tf.tidy(() => {
        const w = use === 'sample' ? source.sampleWeights(random) : source.meanWeights(use === 'pruned-mean');
        return w.bias ? [w.kernel, w.bias] : [w.kernel];
      });
      layer.setWeights(weights);
      tf.dispose(weights);
    } else {
      const weights = source.getWeights();
      if (weights.length > 0) layer.setWeights(weights);
    }
  }
  return plain;
}
