import * as tf from '@tensorflow/tfjs';
import { BayescompError } from '../../util/errors.js';
import {
  choiceOption,
  type FamilyBuildContext,
  type FamilyOptionValue,
  type GroupScales,
  type PosteriorFamily,
} from './posteriorFamily.js';

/**
 * Which kernel axis a group family shares its scales along:
 * - `input`: one scale per input neuron (dense) or input channel (conv);
 * - `output`: one scale per output neuron (dense) or output filter / feature map (conv);
 * - `auto`: `input` for dense kernels (Louizos et al. 2017, eq. 5: one z per input neuron, so pruning a group removes a
 *   neuron of the previous layer) and `output` for convolution kernels (one z per output feature map, so pruning a
 *   group removes a filter).
 */
export type GroupAxisChoice = 'auto' | 'input' | 'output';

/** The resolved group layout of one kernel. */
export interface GroupLayout {
  /** Whether the scales multiply the layer's input channels or its output channels. */
  readonly side: 'input' | 'output';
  /** Kernel axis indexed by the groups. */
  readonly axis: number;
  /** Number of groups (the kernel's size along {@link axis}). */
  readonly count: number;
  /** Shape of the kernel. */
  readonly shape: readonly number[];
}

/** Reads the `groupAxis` option. */
export function groupAxisOption(options: Readonly<Record<string, FamilyOptionValue>>): GroupAxisChoice {
  return choiceOption(options, 'groupAxis', ['auto', 'input', 'output'] as const, 'auto');
}

/**
 * Resolves the group axis of a kernel from the build context. Group families only make sense for kernels (the
 * layer applies {@link GroupScales} of its kernel family only), so a tensor without an input axis (a bias) is refused.
 */
export function resolveGroupLayout(
  context: FamilyBuildContext,
  choice: GroupAxisChoice,
  family: string,
): GroupLayout {
  if (context.inputAxis === undefined) {
    throw new BayescompError(
      'bad-config',
      `the '${family}' family shares scales over kernel rows or filters and cannot be used for '${context.name}'; use a flat family (gaussian, log-uniform) for biases`,
    );
  }
  const side = choice === 'auto' ? (context.shape.length > 2 ? 'output' : 'input') : choice;
  const axis = side === 'input' ? context.inputAxis : context.outputAxis;
  return { side, axis, count: context.shape[axis], shape: context.shape };
}

/** Shape that broadcasts a per-group vector against the kernel: 1 everywhere except the group axis. */
export function groupBroadcastShape(layout: GroupLayout): number[] {
  return layout.shape.map((size, axis) => (axis === layout.axis ? size : 1));
}

/** A per-group vector `[groups]` reshaped to broadcast against the kernel. */
export function broadcastGroups(values: tf.Tensor, layout: GroupLayout): tf.Tensor {
  return tf.reshape(values, groupBroadcastShape(layout));
}

/** Places per-example scales `[batch, groups]` on the side of the linear map the layout says. */
export function placeGroupScales(scales: tf.Tensor2D, layout: GroupLayout): GroupScales {
  return layout.side === 'input' ? { input: scales } : { output: scales };
}

/**
 * The structured pruning mask of a kernel: the outer product of a keep mask over its input axis and one over its
 * output axis (Louizos et al. 2017, §4: a weight survives when both the neuron it reads and the neuron it feeds
 * survive). Either mask may be omitted (all kept); each is a vector of 0/1 (or booleans) of the axis length.
 */
export function groupWeightMask(
  shape: readonly number[],
  axes: { readonly input: number; readonly output: number },
  keep: { readonly input?: tf.Tensor; readonly output?: tf.Tensor },
): tf.Tensor {
  return tf.tidy(() => {
    let mask: tf.Tensor = tf.ones(shape.slice());
    for (const [axis, vector] of [
      [axes.input, keep.input],
      [axes.output, keep.output],
    ] as const) {
      if (!vector) continue;
      if (vector.size !== shape[axis]) {
        throw new BayescompError(
          'bad-shape',
          `group mask has ${vector.size} entries but kernel axis ${axis} has ${shape[axis]}`,
        );
      }
      const broadcast = shape.map((size, a) => (a === axis ? size : 1));
      mask = tf.mul(mask, tf.reshape(tf.cast(vector, 'float32'), broadcast));
    }
    return mask;
  });
}

/**
 * What the group families (group normal-Jeffreys, group horseshoe) offer beyond {@link PosteriorFamily}, for
 * structured pruning: where the groups are, their log α (the group's dropout rate Var[z]/E[z]², pruned when large),
 * keep masks, and the posterior mean of each group's scale.
 */
export interface GroupPosteriorFamily extends PosteriorFamily {
  /** Where the groups are (axis, count, and whether the scales act on the layer's input or output). */
  layout(): GroupLayout;
  /** Group log α, `[groups]`. */
  groupLogAlpha(): tf.Tensor1D;
  /** 1 for groups with log α < threshold, 0 for pruned groups, `[groups]`. */
  groupKeepMask(threshold: number): tf.Tensor1D;
  /** E[z] of each group's scale, `[groups]`. */
  groupScaleMean(): tf.Tensor1D;
}

/** Whether a family shares scales over groups (see {@link GroupPosteriorFamily}). */
export function isGroupPosteriorFamily(family: PosteriorFamily): family is GroupPosteriorFamily {
  const candidate = family as Partial<GroupPosteriorFamily>;
  return (
    typeof candidate.layout === 'function' &&
    typeof candidate.groupLogAlpha === 'function' &&
    typeof candidate.groupKeepMask === 'function' &&
    typeof candidate.groupScaleMean === 'function'
  );
}
