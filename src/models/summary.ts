import type * as tf from '@tensorflow/tfjs';

/** The layer kinds Bayesian methods and Laplace approximations act on. */
export type WeightLayerKind = 'dense' | 'conv2d';

/** One row of {@link describeModel}. */
export interface LayerSummary {
  readonly name: string;
  /** The TF.js class name (`Dense`, `Conv2D`, `MaxPooling2D`, …). */
  readonly className: string;
  /** Output shape with `null` for the batch axis; one shape per output for multi-output layers. */
  readonly outputShape: readonly (number | null)[] | readonly (readonly (number | null)[])[];
  /** Number of weights (trainable and not). */
  readonly params: number;
  readonly trainableParams: number;
  /** The layer's activation when it has one (`relu`, `softmax`, `linear`, …). */
  readonly activation?: string;
  /** `dense` or `conv2d` for the layers the Bayesian methods and Laplace act on, else undefined. */
  readonly weightLayer?: WeightLayerKind;
}

/** What {@link describeModel} reports about a model, for reports and `bayescomp info`-style listings. */
export interface ModelSummary {
  readonly name: string;
  readonly layers: readonly LayerSummary[];
  readonly totalParams: number;
  readonly trainableParams: number;
  /** Parameters held by Dense and Conv2D layers. */
  readonly weightLayerParams: number;
}

const WEIGHT_LAYER_KINDS: Readonly<Record<string, WeightLayerKind>> = { Dense: 'dense', Conv2D: 'conv2d' };

/** Per-layer name, class, output shape, parameter counts, and which layers are Dense/Conv2D. */
export function describeModel(model: tf.LayersModel): ModelSummary {
  const layers = model.layers.map((layer): LayerSummary => {
    const className = layer.getClassName();
    const activation = layer.getConfig().activation;
    const trainableParams = layer.trainableWeights.reduce(
      (n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 0), 1),
      0,
    );
    return {
      name: layer.name,
      className,
      outputShape: layer.outputShape,
      params: layer.countParams(),
      trainableParams,
      ...(typeof activation === 'string' ? { activation } : {}),
      ...(WEIGHT_LAYER_KINDS[className] ? { weightLayer: WEIGHT_LAYER_KINDS[className] } : {}),
    };
  });
  const sum = (pick: (l: LayerSummary) => number) => layers.reduce((n, l) => n + pick(l), 0);
  return {
    name: model.name,
    layers,
    totalParams: sum((l) => l.params),
    trainableParams: sum((l) => l.trainableParams),
    weightLayerParams: sum((l) => (l.weightLayer ? l.params : 0)),
  };
}

/**
 * A fixed-width text table of a {@link ModelSummary} (one line per layer, `*` marking Dense/Conv2D layers), for
 * logs and plain-text reports.
 */
export function formatModelSummary(summary: ModelSummary): string {
  const rows = summary.layers.map((l) => [
    `${l.weightLayer ? '*' : ' '} ${l.name}`,
    l.activation && l.activation !== 'linear' ? `${l.className} (${l.activation})` : l.className,
    formatShape(l.outputShape),
    l.params.toLocaleString('en-US'),
  ]);
  const header = ['  layer', 'class', 'output shape', 'params'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) =>
    cells.map((cell, c) => (c === 3 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ');
  return [
    `model ${summary.name}`,
    line(header),
    ...rows.map(line),
    `total ${summary.totalParams.toLocaleString('en-US')} parameters ` +
      `(${summary.trainableParams.toLocaleString('en-US')} trainable, ` +
      `${summary.weightLayerParams.toLocaleString('en-US')} in * Dense/Conv2D layers)`,
  ].join('\n');
}

function formatShape(shape: LayerSummary['outputShape']): string {
  const one = (s: readonly (number | null)[]) =>
    `[${s.map((d) => (d === null ? 'batch' : String(d))).join(', ')}]`;
  return Array.isArray(shape[0])
    ? (shape as (number | null)[][]).map(one).join(' ')
    : one(shape as (number | null)[]);
}
