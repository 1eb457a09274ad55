import * as tf from '@tensorflow/tfjs';
import { kernelVariables, meanNegativeLogLikelihood, sumOfSquares } from '../../train/map-objective.js';
import type { Batch, StepContext } from '../../train/types.js';
import { BayescompError, requireConfig } from '../../util/errors.js';
import type { WeightSample } from '../../variational/bayesianLayer.js';
import { bayesianLayers, modelKlPart, sparsityReport, updatePriors } from '../../variational/modelLayers.js';
import { withNoiseSource } from '../../variational/noise.js';
import {
  likelihoodSettings,
  negativeLogLikelihoodPerExample,
} from '../../variational/objectives/likelihood.js';
import { renyiBound } from '../../variational/objectives/renyiBound.js';
import { klWeightScheduleFromSpec, type ObjectiveSpec } from './objectiveSpec.js';

/** Which part of a minibatch one worker holds. */
export interface Shard {
  /**
   * Worker index; worker 0 also adds the batch-independent terms that do not split by weight (L2, log-density
   * ratios, the KL of group priors).
   */
  readonly index: number;
  /** Number of workers. */
  readonly workers: number;
  /** This worker's examples over the whole batch's, m_w / M. */
  readonly fraction: number;
  /** The whole batch's size M. */
  readonly batchSize: number;
  /** Sums `values` over all workers (same order, so every worker gets the same bits); blocks until all contribute. */
  readonly sumAcrossWorkers: (values: Float32Array) => Float32Array;
}

/**
 * One worker's part of a step: `loss` is what this worker differentiates; `reported` and `terms` are its additive
 * contributions to the logged loss and terms (summed over workers they are the single-process values).
 */
export interface ShardLoss {
  readonly loss: tf.Scalar;
  readonly reported: tf.Scalar;
  readonly terms: Readonly<Record<string, tf.Scalar>>;
}

/**
 * An objective split over the workers of a data-parallel step: the gradients of the workers' `loss` values sum to
 * the gradient of the single-process objective on the whole batch (the data terms are means, so a worker's share
 * is weighted by m_w / M; batch-independent terms are added once, by worker 0).
 */
export interface ShardObjective {
  /** Term names in logging order (those of the single-process objective). */
  readonly termNames: readonly string[];
  /**
   * Whether a worker without examples still has to take part (it must when workers exchange values mid-step, or
   * each holds a part of a batch-independent term).
   */
  readonly collective: boolean;
  /**
   * Whether every worker draws from the same noise stream (the Rényi objective's shared weight samples) rather than
   * its own.
   */
  readonly sharedNoise: boolean;
  /** Builds this worker's part; `batch` is undefined for a worker without examples in this step. */
  loss(model: tf.LayersModel, batch: Batch | undefined, context: StepContext, shard: Shard): ShardLoss;
  /** The single-process objective's epoch-end update (KL schedule, empirical-Bayes priors), with the same logs. */
  onEpochEnd?(epoch: number, model: tf.LayersModel, logs: Readonly<Record<string, number>>): void;
  /** The single-process objective's epoch metrics (e.g. sparsity). */
  epochMetrics?(model: tf.LayersModel): Record<string, number>;
}

/** Builds the data-parallel form of the objective a spec describes. */
export function shardObjectiveFromSpec(spec: ObjectiveSpec): ShardObjective {
  switch (spec.kind) {
    case 'map':
      return mapShard(spec);
    case 'elbo':
      return elboShard(spec);
    case 'renyi':
      return renyiShard(spec);
    default:
      throw new BayescompError(
        'bad-config',
        `unknown objective kind '${String((spec as { kind: unknown }).kind)}'`,
      );
  }
}

/** `weight · x`, skipping the product when the weight is 1 (keeps a one-worker run bit-identical to `train`). */
function weighted(x: tf.Scalar, weight: number): tf.Scalar {
  return weight === 1 ? x : (tf.mul(x, weight) as tf.Scalar);
}

/** MAP (`mapObjective`): (m_w/M) · mean NLL of the shard, plus (λ/2)‖W‖² on worker 0. */
function mapShard(spec: Extract<ObjectiveSpec, { kind: 'map' }>): ShardObjective {
  const likelihood = spec.likelihood ?? 'categorical';
  const noiseStd = spec.noiseStd ?? 1;
  const weightDecay = spec.weightDecay ?? 0;
  requireConfig(noiseStd > 0, `noise standard deviation must be > 0, got ${noiseStd}`);
  requireConfig(
    weightDecay >= 0 && Number.isFinite(weightDecay),
    `weight decay must be ≥ 0, got ${weightDecay}`,
  );
  return {
    termNames: weightDecay === 0 ? ['data'] : ['data', 'l2'],
    collective: false,
    sharedNoise: false,
    loss(model, batch, _context, shard): ShardLoss {
      const data = batch
        ? weighted(
            meanNegativeLogLikelihood(
              likelihood,
              model.apply(batch.x, { training: true }) as tf.Tensor,
              batch.y,
              noiseStd,
            ),
            shard.fraction,
          )
        : tf.scalar(0);
      if (weightDecay === 0) return { loss: data, reported: data, terms: { data } };
      const l2 =
        shard.index === 0
          ? (tf.mul(weightDecay / 2, sumOfSquares(kernelVariables(model))) as tf.Scalar)
          : tf.scalar(0);
      const loss = tf.add(data, l2) as tf.Scalar;
      return { loss, reported: loss, terms: { data, l2 } };
    },
  };
}

/**
 * ELBO (`elboObjective`): (m_w/M) · the K-pass mean NLL of the shard, plus β · (the worker's part of the KL) / N —
 * families whose KL is a sum over weights split it by rows between the workers (`modelKlPart`), the others' KL is
 * taken by worker 0. Each worker draws its own noise (its examples' local-reparameterisation noise), so with several
 * workers the noise differs from a single-process run; the expected gradient is the same.
 */
function elboShard(spec: Extract<ObjectiveSpec, { kind: 'elbo' }>): ShardObjective {
  const schedule = klWeightScheduleFromSpec(spec.beta);
  const { samples, likelihood, noiseStd } = likelihoodSettings(spec, 1);
  const empiricalBayes = spec.empiricalBayes ?? true;
  return {
    termNames: ['data', 'kl', 'beta', 'nelbo'],
    collective: true,
    sharedNoise: false,
    loss(model, batch, context, shard): ShardLoss {
      return withNoiseSource(context.random, () => {
        let data: tf.Scalar = tf.scalar(0);
        if (batch) {
          const passes: tf.Scalar[] = [];
          for (let k = 0; k < samples; k++) {
            const outputs = model.apply(batch.x, { training: true }) as tf.Tensor;
            passes.push(tf.mean(negativeLogLikelihoodPerExample(likelihood, outputs, batch.y, noiseStd)));
          }
          data = weighted(
            (samples === 1 ? passes[0] : tf.div(tf.addN(passes), samples)) as tf.Scalar,
            shard.fraction,
          );
        }
        const kl = modelKlPart(model, shard.index, shard.workers);
        const progress = context.epoch + context.step / Math.max(1, context.stepsPerEpoch);
        const betaValue = schedule.value(progress);
        const klPerExample = tf.div(kl, context.datasetSize);
        const loss = tf.add(data, tf.mul(betaValue, klPerExample)) as tf.Scalar;
        const nelbo = tf.add(data, klPerExample) as tf.Scalar;
        // Terms are summed over the workers: β is reported once.
        const beta = tf.scalar(shard.index === 0 ? betaValue : 0);
        return { loss, reported: loss, terms: { data, kl, beta, nelbo } };
      });
    },
    onEpochEnd(epoch, model, logs) {
      schedule.onEpochEnd?.(epoch, logs);
      if (empiricalBayes) updatePriors(model);
    },
    epochMetrics(model) {
      const report = sparsityReport(model);
      const metrics: Record<string, number> = { sparsity: report.fraction };
      for (const layer of report.layers) metrics[`sparsity/${layer.name}`] = layer.fraction;
      return metrics;
    },
  };
}

/**
 * Rényi (`renyiObjective`): every worker draws the same K weight samples θ_k (all use one noise stream), computes its
 * shard's part of log w_k = −(N/M) Σ_{i∈batch} log p(yᵢ | xᵢ, θ_k) + [worker 0] (log p(θ_k) − log q(θ_k)), and the
 * parts are summed across workers. The gradient of the bound is Σ_k ŵ_k ∇ log w_k (Li & Turner 2016, eq. 13) with
 * ŵ from the summed log weights, so each worker differentiates −(1/N) Σ_k ŵ_k · (its part of log w_k).
 */
function renyiShard(spec: Extract<ObjectiveSpec, { kind: 'renyi' }>): ShardObjective {
  const alpha = spec.alpha;
  const { samples, likelihood, noiseStd } = likelihoodSettings(spec, 5);
  return {
    termNames: ['bound', 'data'],
    collective: true,
    sharedNoise: true,
    loss(model, batch, context, shard): ShardLoss {
      const layers = bayesianLayers(model);
      if (layers.length === 0)
        throw new BayescompError('bad-config', 'the Rényi objective needs Bayesian layers');
      const n = context.datasetSize;
      return withNoiseSource(context.random, () => {
        const parts: tf.Scalar[] = [];
        const nllSums: tf.Scalar[] = [];
        for (let k = 0; k < samples; k++) {
          // Drawn on every worker, with or without examples, so the shared stream stays aligned.
          const draws: WeightSample[] = layers.map((layer) => layer.sampleWeights(context.random));
          let part: tf.Scalar = tf.scalar(0);
          if (batch) {
            let outputs: tf.Tensor;
            layers.forEach((layer, i) => layer.setWeightSample(draws[i]));
            try {
              outputs = model.apply(batch.x, { training: true }) as tf.Tensor;
            } finally {
              layers.forEach((layer) => layer.setWeightSample(undefined));
            }
            const nllSum = tf.sum(
              negativeLogLikelihoodPerExample(likelihood, outputs, batch.y, noiseStd),
            ) as tf.Scalar;
            nllSums.push(nllSum);
            part = tf.mul(-n / shard.batchSize, nllSum) as tf.Scalar;
          }
          if (shard.index === 0)
            part = tf.add(
              part,
              tf.addN(layers.map((layer, i) => layer.logDensityRatio(draws[i]))),
            ) as tf.Scalar;
          parts.push(part);
        }
        const partVector = tf.stack(parts) as tf.Tensor1D;
        const total = shard.sumAcrossWorkers(partVector.dataSync() as Float32Array);
        const { bound, weights } = renyiBound(tf.tensor1d(total), alpha);
        const loss = tf.div(tf.neg(tf.sum(tf.mul(weights, partVector))), n) as tf.Scalar;
        const data =
          nllSums.length > 0
            ? (tf.div(tf.addN(nllSums), shard.batchSize * samples) as tf.Scalar)
            : tf.scalar(0);
        const first = shard.index === 0;
        return {
          loss,
          reported: first ? (tf.div(tf.neg(bound), n) as tf.Scalar) : tf.scalar(0),
          terms: { bound: first ? bound : tf.scalar(0), data },
        };
      });
    },
  };
}
