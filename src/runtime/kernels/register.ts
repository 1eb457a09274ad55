import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterConfig } from './conv2dBackpropFilter.js';
import { conv2dBackpropInputConfig } from './conv2dBackpropInput.js';
import { conv3dBackpropInputConfig } from './conv3dBackpropInput.js';
import {
  depthwiseConv2dBackpropFilterConfig,
  depthwiseConv2dBackpropInputConfig,
} from './depthwiseConv2dBackprop.js';
import { avgPoolGradConfig, maxPoolGradConfig } from './poolingGradients.js';
import { leadingAxesSumConfig } from './leadingAxesSum.js';
import { mirrorPadGradConfig } from './mirrorPadGradient.js';
import { sharingIdentityConfig } from './sharingIdentity.js';
import { simdMathConfig } from './simdMath.js';
import { gemmMatMulConfig } from './gemmMatMul.js';
import { transposingMatMulConfig } from './transposingMatMul.js';
import { unsortedSegmentSumConfig } from './unsortedSegmentSum.js';

/** Marks kernel functions installed by bayescomp; `Symbol.for` so that two copies of this module agree. */
const INSTALLED = Symbol.for('bayescomp.kernels.installed');
/** On an installed kernel function: the kernel it replaced, if any. */
const REPLACED = Symbol.for('bayescomp.kernels.replaced');

interface Marked {
  [INSTALLED]?: true;
  [REPLACED]?: tf.KernelConfig;
}

/** What to install for one kernel. */
interface KernelPlan {
  readonly kernelName: string;
  /**
   * `missing`: install only where the backend has none. `replace`: install in place of the backend's own (or add it).
   * `wrap`: wrap the backend's own kernel, which `make` receives (nothing happens where there is none).
   */
  readonly when: 'missing' | 'replace' | 'wrap';
  readonly make: (backendName: string, existing: tf.KernelConfig | undefined) => tf.KernelConfig;
}

const composedKernels: readonly KernelPlan[] = [
  { kernelName: 'Conv2DBackpropFilter', when: 'missing', make: conv2dBackpropFilterConfig },
  {
    kernelName: 'DepthwiseConv2dNativeBackpropFilter',
    when: 'missing',
    make: depthwiseConv2dBackpropFilterConfig,
  },
  {
    kernelName: 'DepthwiseConv2dNativeBackpropInput',
    when: 'missing',
    make: depthwiseConv2dBackpropInputConfig,
  },
  { kernelName: 'UnsortedSegmentSum', when: 'missing', make: unsortedSegmentSumConfig },
];

/** TF.js's AvgPoolGrad (cpu and wasm) disagrees with its forward pass where 'same' windows overlap the border. */
const fixedAvgPoolGrad: KernelPlan = { kernelName: 'AvgPoolGrad', when: 'wrap', make: avgPoolGradConfig };

/** Per backend, the kernels that are missing or too slow, and what replaces them. */
const plans: Readonly<Record<string, readonly KernelPlan[]>> = {
  wasm: [
    ...composedKernels,
    // The wasm backend's own input gradient is a scalar loop, ~30× slower than its Conv2D.
    // (Conv2DBackpropFilter, from composedKernels, and this one run as im2col + MatMul on the wasm heap.)
    { kernelName: 'Conv2DBackpropInput', when: 'replace', make: conv2dBackpropInputConfig },
    // TF.js 4.22's wasm Conv3DBackpropInputV2 and MaxPoolGrad return wrong gradients.
    { kernelName: 'Conv3DBackpropInputV2', when: 'replace', make: conv3dBackpropInputConfig },
    { kernelName: 'MaxPoolGrad', when: 'replace', make: maxPoolGradConfig },
    fixedAvgPoolGrad,
    // XNNPACK packs B on every product whose B it has not seen: every product of a training step.
    {
      kernelName: 'BatchMatMul',
      when: 'wrap',
      make: (_, existing) => transposingMatMulConfig(gemmMatMulConfig(existing!)),
    },
    { kernelName: '_FusedMatMul', when: 'wrap', make: (_, existing) => transposingMatMulConfig(existing!) },
    // Its Identity copies; the engine clones every tensor a gradient keeps.
    { kernelName: 'Identity', when: 'wrap', make: (_, existing) => sharingIdentityConfig(existing!) },
    // Its Sum transposes before reducing leading axes (every bias gradient).
    { kernelName: 'Sum', when: 'wrap', make: (_, existing) => leadingAxesSumConfig(existing!) },
    // Its Exp and Log are scalar libm loops (every variance exp(log σ²), every Sparse VD log θ²).
    { kernelName: 'Exp', when: 'wrap', make: (_, existing) => simdMathConfig('exp', existing!) },
    { kernelName: 'Log', when: 'wrap', make: (_, existing) => simdMathConfig('log', existing!) },
  ],
  cpu: [
    // The cpu backend's own filter gradient is a scalar loop taking seconds per call at LeNet-5 sizes.
    { kernelName: 'Conv2DBackpropFilter', when: 'replace', make: conv2dBackpropFilterConfig },
    fixedAvgPoolGrad,
    ...composedKernels,
  ],
};

/**
 * Registers kernels that bayescomp needs and a backend lacks or implements too slowly (see {@link patchedKernels} for
 * the list). Called by `initBackend` after the backend is active. Idempotent: kernels already installed are left
 * alone, so calling it again, or again after switching backends, changes nothing. Backends other than wasm and cpu
 * only get the composed kernels they are missing. Also installs {@link registerGradientFixes}.
 */
export function registerMissingKernels(backendName: string): void {
  registerGradientFixes();
  for (const plan of plans[backendName] ?? composedKernels) {
    const existing = tf.getKernel(plan.kernelName, backendName);
    if (existing !== undefined && isInstalled(existing)) continue;
    if (plan.when === 'missing' && existing !== undefined) continue;
    if (plan.when === 'wrap' && existing === undefined) continue;
    const made = plan.make(backendName, existing);
    // The backend's kernel keeps its setup: a re-initialised backend (the wasm backend restarted with another thread
    // count) runs every registered kernel's setupFunc, which binds the backend's own kernel to the new module.
    const config: tf.KernelConfig = {
      ...made,
      setupFunc: made.setupFunc ?? existing?.setupFunc,
      disposeFunc: made.disposeFunc ?? existing?.disposeFunc,
    };
    const marked = config.kernelFunc as Marked;
    marked[INSTALLED] = true;
    if (existing !== undefined) {
      marked[REPLACED] = existing;
      tf.unregisterKernel(plan.kernelName, backendName);
    }
    tf.registerKernel(config);
  }
}

/**
 * Replaces gradient functions of TF.js that are wrong on every backend (at present `MirrorPad`'s, which ignores the
 * mirrored borders). Gradients are global, so this runs once per process whatever the backend; idempotent.
 */
export function registerGradientFixes(): void {
  for (const config of [mirrorPadGradConfig]) {
    const current = tf.getGradient(config.kernelName);
    if (current !== undefined && (current.gradFunc as Marked)[INSTALLED] === true) continue;
    (config.gradFunc as Marked)[INSTALLED] = true;
    tf.registerGradient(config);
  }
}

/** The kernels bayescomp has installed on a backend, by name (for `bayescomp info` and tests). */
export function patchedKernels(backendName: string): string[] {
  return tf
    .getKernelsForBackend(backendName)
    .filter(isInstalled)
    .map((k) => k.kernelName)
    .sort();
}

/**
 * The backend's own kernel that bayescomp replaced, or undefined when bayescomp added the kernel (the backend had
 * none) or did not touch it. Tests compare against it.
 */
export function replacedKernel(kernelName: string, backendName: string): tf.KernelConfig | undefined {
  const current = tf.getKernel(kernelName, backendName);
  return current === undefined ? undefined : (current.kernelFunc as Marked)[REPLACED];
}

function isInstalled(config: tf.KernelConfig): boolean {
  return (config.kernelFunc as Marked)[INSTALLED] === true;
}
