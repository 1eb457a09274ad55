import * as tf from '@tensorflow/tfjs';

/** Per input name, a function computing that input's gradient; only the ones the tape needs are called. */
export type LazyGradients = Record<string, () => tf.Tensor>;

/** What {@link lazyGradientOp} runs: a forward computation and its hand-written backward pass. */
export interface LazyGradientOpSpec {
  /** The tensors the result is differentiated with respect to, by name. Other tensors enter through `saved`. */
  readonly inputs: Readonly<Record<string, tf.Tensor>>;
  /**
   * Computes the result from the inputs. Tensors the backward pass needs (inputs, intermediates, constants such as
   * noise) are handed to `save`; they are kept only while a gradient tape records.
   */
  forward(save: (tensors: tf.Tensor[]) => void): tf.Tensor;
  /** Given the result's gradient `dy` and the saved tensors (in `save` order), one gradient function per input. */
  backward(dy: tf.Tensor, saved: tf.Tensor[]): LazyGradients;
}

/** The engine method `tf.customGrad` runs on; its per-input gradients are functions, called only when needed. */
interface CustomKernelEngine {
  runKernelFunc(params: {
    forwardFunc: (backend: unknown, save: (tensors: tf.Tensor[]) => void) => tf.Tensor;
    backwardsFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => LazyGradients;
    inputs: Record<string, tf.Tensor>;
  }): tf.Tensor;
}

function customKernelEngine(): CustomKernelEngine | undefined {
  const engine = tf.engine() as unknown as Partial<CustomKernelEngine>;
  return typeof engine.runKernelFunc === 'function' ? (engine as CustomKernelEngine) : undefined;
}

/**
 * One op with a hand-written gradient, recorded on the tape as a single node (its inner ops are not recorded).
 *
 * Unlike `tf.customGrad`, which evaluates the gradient of every input, each input's gradient is computed only if the
 * tape needs it: the input gradient of a network's first layer (its input is data) is never formed. This runs on the
 * engine method `tf.customGrad` itself is built on; should a TF.js version lack it, `tf.customGrad` is used (same
 * values, every gradient evaluated: {@link eagerGradientOp}).
 */
export function lazyGradientOp(spec: LazyGradientOpSpec): tf.Tensor {
  const engine = customKernelEngine();
  if (!engine) return eagerGradientOp(spec);
  return engine.runKernelFunc({
    forwardFunc: (_backend, save) => spec.forward(save),
    backwardsFunc: (dy, saved) => spec.backward(dy, saved),
    inputs: { ...spec.inputs },
  });
}

/** The same op through `tf.customGrad`: same values and gradients, but every input's gradient is evaluated. */
export function eagerGradientOp(spec: LazyGradientOpSpec): tf.Tensor {
  const names = Object.keys(spec.inputs);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[names.length] as tf.GradSaveFunc;
    return {
      value: spec.forward(save),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const grads = spec.backward(dy as tf.Tensor, saved);
        return names.map((name) => grads[name]());
      },
    };
  });
  return op(...names.map((name) => spec.inputs[name]));
}
