import * as tf from '@tensorflow/tfjs';
import { BayescompError, requireConfig } from '../util/errors.js';
import type { Batch, LossTerms, Objective } from './types.js';

/** The likelihood a deterministic (MAP) objective uses. */
export type MapLikelihood = 'categorical' | 'gaussian' | 'heteroscedastic-gaussian' | 'mse';

/** Options for {@link mapObjective}. */
export interface MapObjectiveOptions {
  /**
   * `categorical` (default): softmax cross-entropy on logits with int32 labels. `gaussian`: Gaussian NLL with a fixed
   * noise `noiseStd`. `heteroscedastic-gaussian`: the model outputs `[mean, log variance]` (2·d columns) and the NLL
   * uses its predicted variance. `mse`: mean squared error (no constants, mean over examples and target dimensions).
   */
  readonly likelihood?: MapLikelihood;
  /** Observation noise σ for `gaussian`. Default 1. */
  readonly noiseStd?: number;
  /**
   * Coupled L2 weight decay λ: the loss gains `(λ/2) Σ‖W‖²` over the kernels, so the gradient gains `λW` — the same
   * update as PyTorch's `weight_decay=λ` in SGD/Adam (for decoupled AdamW decay see `OptimizerSpec.decoupledWeightDecay`).
   * As a Gaussian prior N(0, σ_p²) on the kernels this is λ = 1/(N σ_p²), since the data term is a mean over the batch.
   * Default 0.
   */
  readonly weightDecay?: number;
  /** Which variables the L2 term covers. Default {@link kernelVariables} (weights, not biases). */
  readonly decayedVariables?: (model: tf.LayersModel) => tf.Variable[];
}

/**
 * The deterministic objective: mean negative log-likelihood of the batch plus optional L2 weight decay, i.e. the
 * negative log posterior (MAP) per example up to a constant. Terms logged: `data` (mean NLL, or MSE) and `l2`.
 */
export function mapObjective(options: MapObjectiveOptions = {}): Objective {
  const likelihood = options.likelihood ?? 'categorical';
  const known: MapLikelihood[] = ['categorical', 'gaussian', 'heteroscedastic-gaussian', 'mse'];
  requireConfig(known.includes(likelihood), `unknown likelihood '${likelihood}' (use ${known.join(', ')})`);
  const noiseStd = options.noiseStd ?? 1;
  requireConfig(noiseStd > 0, `noise standard deviation must be > 0, got ${noiseStd}`);
  const weightDecay = options.weightDecay ?? 0;
  requireConfig(
    weightDecay >= 0 && Number.isFinite(weightDecay),
    `weight decay must be ≥ 0, got ${weightDecay}`,
  );
  const decayed = options.decayedVariables ?? kernelVariables;

  return {
    name: 'map',
    loss(model: tf.LayersModel, batch: Batch): LossTerms {
      const outputs = model.apply(batch.x, { training: true }) as tf.Tensor;
      const data = meanNegativeLogLikelihood(likelihood, outputs, batch.y, noiseStd);
      if (weightDecay === 0) return { loss: data, terms: { data } };
      const l2 = tf.mul(weightDecay / 2, sumOfSquares(decayed(model))) as tf.Scalar;
      return { loss: tf.add(data, l2) as tf.Scalar, terms: { data, l2 } };
    },
  };
}

/** Mean over the batch of the per-example negative log-likelihood (or the MSE for `mse`). */
export function meanNegativeLogLikelihood(
  likelihood: MapLikelihood,
  outputs: tf.Tensor,
  targets: tf.Tensor,
  noiseStd = 1,
): tf.Scalar {
  return tf.tidy(() => {
    if (likelihood === 'categorical')
      return tf.mean(softmaxCrossEntropyPerExample(outputs, targets)) as tf.Scalar;
    if (targets.dtype !== 'float32') {
      throw new BayescompError(
        'bad-config',
        `the ${likelihood} likelihood needs real-valued targets, got ${targets.dtype} labels`,
      );
    }
    if (likelihood === 'mse') return tf.mean(tf.squaredDifference(outputs, targets)) as tf.Scalar;
    if (likelihood === 'gaussian')
      return tf.mean(gaussianNllPerExample(outputs, targets, noiseStd)) as tf.Scalar;
    return tf.mean(heteroscedasticGaussianNllPerExample(outputs, targets)) as tf.Scalar;
  });
}

/**
 * Per-example softmax cross-entropy from logits and int32 class labels:
 * `−log softmax(z)_y = logsumexp(z) − z_y`, computed stably through `logSumExp`.
 */
export function softmaxCrossEntropyPerExample(logits: tf.Tensor, labels: tf.Tensor): tf.Tensor1D {
  if (labels.dtype !== 'int32') {
    throw new BayescompError(
      'bad-config',
      `softmax cross-entropy needs int32 class labels, got ${labels.dtype} targets`,
    );
  }
  if (logits.rank !== 2) {
    throw new BayescompError(
      'bad-shape',
      `classification needs logits shaped [batch, classes], got [${logits.shape}]`,
    );
  }
  return tf.tidy(() => {
    const classes = logits.shape[1] as number;
    const oneHot = tf.cast(tf.oneHot(labels as tf.Tensor1D, classes), 'float32');
    return crossEntropyWithLogits(logits as tf.Tensor2D, oneHot as tf.Tensor2D);
  });
}

/**
 * `logsumexp(z) − Σ z ⊙ onehot` per row, with the gradient written out: ∂/∂z = (softmax(z) − onehot) · dy. The
 * automatic gradient of the composition (logSumExp's max, exp, sum and log, the picked logit's product and sum) runs
 * about thirty small kernels per step; this runs five, reusing exp(z − max) from the forward pass. The one-hot labels
 * are a constant (no gradient).
 */
function crossEntropyWithLogits(logits: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Tensor1D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const z = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const max = tf.max(z, 1, true);
    const shifted = tf.exp(tf.sub(z, max));
    const total = tf.sum(shifted, 1, true);
    const picked = tf.sum(tf.mul(z, oneHot), 1, true);
    save([shifted, total, oneHot]);
    return {
      value: tf.reshape(tf.sub(tf.add(tf.log(total), max), picked), [-1]),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [e, sum, hot] = saved;
        return tf.mul(tf.sub(tf.div(e, sum), hot), tf.reshape(dy as tf.Tensor, [-1, 1]));
      },
    };
  });
  return op(logits) as tf.Tensor1D;
}

/**
 * Per-example Gaussian negative log-likelihood with fixed noise σ, summed over target dimensions:
 * `Σ_d ½ log(2πσ²) + (y_d − μ_d)² / (2σ²)`.
 */
export function gaussianNllPerExample(means: tf.Tensor, targets: tf.Tensor, noiseStd: number): tf.Tensor1D {
  return tf.tidy(() => {
    const d = targets.shape[1] ?? 1;
    const sq = tf.sum(tf.reshape(tf.squaredDifference(means, targets), [targets.shape[0], -1]), 1);
    const constant = 0.5 * d * Math.log(2 * Math.PI * noiseStd * noiseStd);
    return tf.add(tf.mul(sq, 1 / (2 * noiseStd * noiseStd)), constant) as tf.Tensor1D;
  });
}

/**
 * Per-example Gaussian negative log-likelihood when the model predicts its own variance (Nix & Weigend 1994): outputs
 * `[μ, s]` with `s = log σ²`, `Σ_d ½ (log 2π + s_d + (y_d − μ_d)² e^{−s_d})`.
 */
export function heteroscedasticGaussianNllPerExample(outputs: tf.Tensor, targets: tf.Tensor): tf.Tensor1D {
  const d = targets.shape[1] ?? 1;
  if (outputs.rank !== 2 || outputs.shape[1] !== 2 * d) {
    throw new BayescompError(
      'bad-shape',
      `heteroscedastic regression needs outputs shaped [batch, ${2 * d}] (means then log variances), got [${outputs.shape}]`,
    );
  }
  return tf.tidy(() => {
    const [mean, logVar] = tf.split(outputs, 2, 1);
    const scaled = tf.mul(tf.squaredDifference(mean, targets), tf.exp(tf.neg(logVar)));
    const perDim = tf.add(tf.add(logVar, scaled), Math.log(2 * Math.PI));
    return tf.mul(tf.sum(perDim, 1), 0.5) as tf.Tensor1D;
  });
}

/** `Σ_v ‖v‖²` over the given variables, as one scalar. */
export function sumOfSquares(variables: readonly tf.Tensor[]): tf.Scalar {
  return tf.tidy(() =>
    variables.length === 0
      ? tf.scalar(0)
      : (tf.addN(variables.map((v) => tf.sum(tf.square(v)))) as tf.Scalar),
  );
}

/**
 * The model's trainable kernels (Dense/Conv weights, named `…/kernel`, `…/depthwise_kernel`, …), excluding biases,
 * normalisation scales and offsets: the variables weight decay conventionally covers.
 */
export function kernelVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights
    .filter((w) => /kernel$/.test(w.originalName.split('/').pop() ?? ''))
    .map((w) => w.read() as tf.Variable);
}
