import * as tf from '@tensorflow/tfjs';
import { adamKernel, writeAdamScalars } from '../runtime/kernels/adamKernel.js';
import { heapHelperFor } from '../runtime/kernels/heapHelper.js';
import { WasmHeap } from '../runtime/kernels/wasmHeap.js';

/** The fields of TF.js's `AdamOptimizer` the update reads and writes (private in its public types). */
interface AdamState {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: Array<{ originalName: string; variable: tf.Variable } | undefined>;
  accumulatedSecondMoment: Array<{ originalName: string; variable: tf.Variable } | undefined>;
}

/**
 * TF.js's Adam (Kingma & Ba 2015, Algorithm 1) with the bias corrections folded into two scalars, as the paper's
 * §2 suggests: with c₁ = 1 − β₁ᵗ and c₂ = 1 − β₂ᵗ,
 *
 *   m ← β₁m + (1 − β₁)g,   v ← β₂v + (1 − β₂)g²,   w ← w − (lr·√c₂ / c₁) · m / (√v + ε·√c₂),
 *
 * which equals TF.js's and PyTorch's `w − lr·(m/c₁) / (√(v/c₂) + ε)` up to float rounding, in 12 element-wise kernels
 * per variable instead of 14 (the two full-size bias-correction divisions become scalar work).
 *
 * On the wasm backend each variable's update is one pass over the heap (`adamKernel`, SIMD) instead of those 12
 * kernels, with bit-identical results: the same float32 operations in the same order.
 *
 * Same class name, state variables and `getWeights` layout as `tf.AdamOptimizer`, so checkpoints of either restore
 * into the other.
 */
export class FusedAdamOptimizer extends tf.AdamOptimizer {
  override applyGradients(
    variableGradients: tf.NamedTensorMap | Array<{ name: string; tensor: tf.Tensor }>,
  ): void {
    const s = this as unknown as AdamState;
    const names = Array.isArray(variableGradients)
      ? variableGradients.map((v) => v.name)
      : Object.keys(variableGradients);
    const heap = WasmHeap.of(tf.backend());
    if (heap) {
      this.applyOnHeap(heap, names, variableGradients);
      this.incrementIterations();
      return;
    }
    tf.tidy(() => {
      const c2Sqrt = tf.sqrt(tf.sub(1, s.accBeta2));
      const stepSize = tf.mul(tf.div(c2Sqrt, tf.sub(1, s.accBeta1)), -s.learningRate);
      const epsilonHat = tf.mul(c2Sqrt, s.epsilon);
      names.forEach((name, i) => {
        const { value, m, v } = moments(s, name, i);
        const gradient = gradientOf(variableGradients, name, i);
        if (gradient == null) return;
        const newM = tf.add(tf.mul(m, s.beta1), tf.mul(gradient, 1 - s.beta1));
        const newV = tf.add(tf.mul(v, s.beta2), tf.mul(tf.square(gradient), 1 - s.beta2));
        m.assign(newM);
        v.assign(newV);
        value.assign(tf.add(value, tf.mul(tf.div(newM, tf.add(tf.sqrt(newV), epsilonHat)), stepSize)));
      });
      advancePowers(s);
    });
    this.incrementIterations();
  }

  /** The same update with one heap pass per variable (`adamKernel`); scalars computed as the kernels above do. */
  private applyOnHeap(
    heap: WasmHeap,
    names: readonly string[],
    variableGradients: tf.NamedTensorMap | Array<{ name: string; tensor: tf.Tensor }>,
  ): void {
    const s = this as unknown as AdamState;
    const f = Math.fround;
    const c2Sqrt = f(Math.sqrt(f(1 - s.accBeta2.dataSync()[0])));
    const scalars = {
      beta1: s.beta1,
      oneMinusBeta1: 1 - s.beta1,
      beta2: s.beta2,
      oneMinusBeta2: 1 - s.beta2,
      epsilon: f(c2Sqrt * f(s.epsilon)),
      step: f(f(c2Sqrt / f(1 - s.accBeta1.dataSync()[0])) * f(-s.learningRate)),
    };
    const kernel = adamKernel(heap.memory());
    const helper = heapHelperFor(heap.memory());
    const backend = tf.backend();
    const scalarInfo = heap.output([6]);
    try {
      writeAdamScalars(heap.f32, heap.offset(scalarInfo), scalars);
      names.forEach((name, i) => {
        const { value, m, v } = moments(s, name, i);
        const gradient = gradientOf(variableGradients, name, i);
        if (gradient == null) return;
        const shape = value.shape as number[];
        const outputs = [heap.output(shape), heap.output(shape), heap.output(shape)];
        const [outW, outM, outV] = outputs;
        kernel.update(
          heap.f32,
          {
            w: heap.offset(value),
            m: heap.offset(m),
            v: heap.offset(v),
            g: heap.offset(gradient),
            outW: heap.offset(outW),
            outM: heap.offset(outM),
            outV: heap.offset(outV),
            length: value.size,
          },
          heap.offset(scalarInfo),
          helper,
        );
        [value, m, v].forEach((variable, k) => {
          const result = tf.engine().makeTensorFromTensorInfo(outputs[k]);
          variable.assign(result);
          result.dispose();
        });
      });
    } finally {
      backend.disposeData(scalarInfo.dataId);
    }
    tf.tidy(() => advancePowers(s));
  }
}

/** The gradient of variable `name`, the i-th of the update, from either form `applyGradients` accepts. */
function gradientOf(
  variableGradients: tf.NamedTensorMap | Array<{ name: string; tensor: tf.Tensor }>,
  name: string,
  i: number,
): tf.Tensor | undefined {
  return Array.isArray(variableGradients) ? variableGradients[i].tensor : variableGradients[name];
}

/** Variable `name` (the i-th updated) and its first and second moments, created as zeros on first use. */
function moments(
  s: AdamState,
  name: string,
  i: number,
): { value: tf.Variable; m: tf.Variable; v: tf.Variable } {
  const value = tf.engine().registeredVariables[name];
  s.accumulatedFirstMoment[i] ??= {
    originalName: `${name}/m`,
    variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
  };
  s.accumulatedSecondMoment[i] ??= {
    originalName: `${name}/v`,
    variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
  };
  return { value, m: s.accumulatedFirstMoment[i]!.variable, v: s.accumulatedSecondMoment[i]!.variable };
}

/** β₁ᵗ ← β₁ᵗ·β₁ and β₂ᵗ ← β₂ᵗ·β₂ (float32 state variables, as TF.js keeps them). */
function advancePowers(s: AdamState): void {
  s.accBeta1.assign(tf.mul(s.accBeta1, s.beta1));
  s.accBeta2.assign(tf.mul(s.accBeta2, s.beta2));
}
