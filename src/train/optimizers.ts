import * as tf from '@tensorflow/tfjs';
import { BayescompError, requireConfig } from '../util/errors.js';
import { FusedAdamOptimizer } from './fusedAdam.js';

/** Optimisers the training loop can build from a plain spec. */
export type OptimizerName = 'adam' | 'sgd' | 'momentum' | 'rmsprop';

/**
 * A TF.js optimiser described as plain data (for command lines, configs and checkpoints). Defaults follow PyTorch,
 * the reference implementations we compare with: Adam β₁ = 0.9, β₂ = 0.999, ε = 1e-8; RMSProp decay 0.99, ε = 1e-8.
 */
export interface OptimizerSpec {
  readonly name: OptimizerName;
  readonly learningRate: number;
  /** Adam's first-moment decay. Default 0.9. */
  readonly beta1?: number;
  /** Adam's second-moment decay. Default 0.999. */
  readonly beta2?: number;
  /** Adam/RMSProp denominator offset. Default 1e-8. */
  readonly epsilon?: number;
  /** Momentum coefficient (`momentum`: default 0.9; `rmsprop`: default 0). */
  readonly momentum?: number;
  /** Nesterov momentum for `momentum`. Default false. */
  readonly nesterov?: boolean;
  /** RMSProp's squared-gradient decay. Default 0.99. */
  readonly rmsDecay?: number;
  /** Centred RMSProp. Default false. */
  readonly centered?: boolean;
  /**
   * Decoupled weight decay λ (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization", Alg. 2 line 12):
   * before each update the trainer shrinks the decayed variables (kernels) by `w ← w · (1 − lr·λ)`, as PyTorch's
   * `AdamW`; with `adam` this is AdamW. Independent of the coupled L2 term of the MAP objective (`weightDecay`).
   * Default 0.
   */
  readonly decoupledWeightDecay?: number;
}

/**
 * Builds a TF.js optimiser from a spec; throws `bad-config` for unknown names or out-of-range values. Adam is
 * {@link FusedAdamOptimizer} (TF.js's Adam with fewer kernels per step, same state layout).
 */
export function createOptimizer(spec: OptimizerSpec): tf.Optimizer {
  validateOptimizerSpec(spec);
  const lr = spec.learningRate;
  switch (spec.name) {
    case 'adam':
      return new FusedAdamOptimizer(lr, spec.beta1 ?? 0.9, spec.beta2 ?? 0.999, spec.epsilon ?? 1e-8);
    case 'sgd':
      return tf.train.sgd(lr);
    case 'momentum':
      return tf.train.momentum(lr, spec.momentum ?? 0.9, spec.nesterov ?? false);
    case 'rmsprop':
      return tf.train.rmsprop(
        lr,
        spec.rmsDecay ?? 0.99,
        spec.momentum ?? 0,
        spec.epsilon ?? 1e-8,
        spec.centered ?? false,
      );
  }
}

/** Throws a `bad-config` error unless the spec describes an optimiser {@link createOptimizer} can build. */
export function validateOptimizerSpec(spec: OptimizerSpec): void {
  const names: OptimizerName[] = ['adam', 'sgd', 'momentum', 'rmsprop'];
  requireConfig(
    names.includes(spec.name),
    `unknown optimizer '${String(spec.name)}' (use ${names.join(', ')})`,
  );
  requireConfig(
    Number.isFinite(spec.learningRate) && spec.learningRate >= 0,
    `learning rate must be a finite number ≥ 0, got ${spec.learningRate}`,
  );
  for (const key of ['beta1', 'beta2', 'rmsDecay'] as const) {
    const v = spec[key];
    if (v !== undefined) requireConfig(v >= 0 && v < 1, `${key} must be in [0, 1), got ${v}`);
  }
  if (spec.momentum !== undefined)
    requireConfig(spec.momentum >= 0, `momentum must be ≥ 0, got ${spec.momentum}`);
  if (spec.epsilon !== undefined) requireConfig(spec.epsilon > 0, `epsilon must be > 0, got ${spec.epsilon}`);
  const wd = spec.decoupledWeightDecay ?? 0;
  requireConfig(Number.isFinite(wd) && wd >= 0, `decoupled weight decay must be ≥ 0, got ${wd}`);
}

/** The fields of TF.js optimisers we read or write that their public types keep protected or private. */
interface OptimizerInternals {
  learningRate: number;
  setLearningRate?: (lr: number) => void;
  accBeta1?: tf.Variable;
  accBeta2?: tf.Variable;
}

function internals(optimizer: tf.Optimizer): OptimizerInternals {
  return optimizer as unknown as OptimizerInternals;
}

/** The optimiser's current learning rate. */
export function getOptimizerLearningRate(optimizer: tf.Optimizer): number {
  return internals(optimizer).learningRate;
}

/**
 * Changes the learning rate of a TF.js optimiser in place. SGD and momentum cache `−lr` as a tensor, so they are
 * updated through `setLearningRate`; Adam and RMSProp read the `learningRate` field at every step.
 */
export function setOptimizerLearningRate(optimizer: tf.Optimizer, learningRate: number): void {
  const o = internals(optimizer);
  if (o.learningRate === learningRate) return;
  if (typeof o.setLearningRate === 'function') o.setLearningRate(learningRate);
  else o.learningRate = learningRate;
}

/** One optimiser slot (a moment estimate per optimised variable), as plain values for a checkpoint. */
export interface OptimizerSlot {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/** Everything needed to continue an optimiser exactly where it stopped. */
export interface OptimizerState {
  /** TF.js class name (`Adam`, `SGD`, `Momentum`, `RMSProp`), checked on restore. */
  readonly className: string;
  /** Steps taken (Adam's bias correction depends on it). */
  readonly iterations: number;
  /** Moment estimates in the optimiser's own order (Adam: all first moments, then all second moments). */
  readonly slots: readonly OptimizerSlot[];
  /**
   * Adam's running powers β₁ᵗ, β₂ᵗ. TF.js's `setWeights` recomputes them as `pow(β, t + 1)`, which can differ in the
   * last bit from the running product; restoring them keeps a resumed run bit-identical.
   */
  readonly adamBetaPowers?: readonly [number, number];
}

/** Reads an optimiser's state (iteration count, moment estimates) for a checkpoint. */
export async function getOptimizerState(optimizer: tf.Optimizer): Promise<OptimizerState> {
  const named = await optimizer.getWeights();
  const [iter, ...rest] = named;
  const iterations = (await iter.tensor.data())[0];
  iter.tensor.dispose();
  const slots: OptimizerSlot[] = [];
  for (const { name, tensor } of rest) {
    slots.push({ name, shape: tensor.shape, values: new Float32Array(await tensor.data()) });
  }
  const o = internals(optimizer);
  let adamBetaPowers: [number, number] | undefined;
  if (o.accBeta1 && o.accBeta2) {
    adamBetaPowers = [(await o.accBeta1.data())[0], (await o.accBeta2.data())[0]];
  }
  return { className: optimizer.getClassName(), iterations, slots, adamBetaPowers };
}

/**
 * Restores {@link getOptimizerState}'s output into a freshly built optimiser of the same kind. Slots are matched to
 * variables by position, as TF.js optimisers do, so the variable list must be in the same order as when saved.
 */
export async function setOptimizerState(
  optimizer: tf.Optimizer,
  state: OptimizerState,
  file?: string,
): Promise<void> {
  if (state.className !== optimizer.getClassName()) {
    throw new BayescompError(
      'bad-config',
      `the checkpoint holds ${state.className} optimizer state but the run uses ${optimizer.getClassName()}`,
      { file },
    );
  }
  const tensors: Parameters<tf.Optimizer['setWeights']>[0] = [
    { name: 'iter', tensor: tf.scalar(state.iterations, 'int32') },
    ...state.slots.map((s) => ({ name: s.name, tensor: tf.tensor(s.values, [...s.shape], 'float32') })),
  ];
  try {
    // SGD throws on slots; Adam/RMSProp/Momentum wrap each tensor in a new variable (sharing its data).
    await optimizer.setWeights(tensors);
  } finally {
    tf.dispose(tensors.map((t) => t.tensor));
  }
  const o = internals(optimizer);
  if (state.adamBetaPowers && o.accBeta1 && o.accBeta2) {
    const [b1, b2] = state.adamBetaPowers;
    tf.tidy(() => {
      o.accBeta1!.assign(tf.scalar(b1));
      o.accBeta2!.assign(tf.scalar(b2));
    });
  }
}

/**
 * Decoupled weight decay, `w ← w · (1 − lr·λ)` for each variable (Loshchilov & Hutter 2019, Alg. 2 line 12); the
 * trainer calls it after the gradients are computed and before the optimiser step, as PyTorch's `AdamW` does.
 */
export function applyDecoupledWeightDecay(
  variables: readonly tf.Variable[],
  learningRate: number,
  decay: number,
): void {
  if (decay === 0 || learningRate === 0 || variables.length === 0) return;
  const factor = 1 - learningRate * decay;
  tf.tidy(() => {
    for (const v of variables) v.assign(tf.mul(v, factor));
  });
}
