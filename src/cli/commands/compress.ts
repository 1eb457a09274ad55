import * as tf from '@tensorflow/tfjs';
import { type Command, Option } from 'commander';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeCompactModel } from '../../compress/compact-model.js';
import { laplaceObsPruneMasks, laplaceObsWeights } from '../../compress/from-laplace.js';
import { obsSparsitySchedule } from '../../laplace/index.js';
import { formatCompressionTable, summarizeCompression } from '../../compress/compression-summary.js';
import { computeMasks, type MaskSet, type PruningSpec } from '../../compress/masks.js';
import type { PruningCriterion } from '../../compress/pruning-rules.js';
import {
  type QuantizationMethod,
  quantizeKernels,
  quantizedBits,
  setKernels,
} from '../../compress/quantize-kernels.js';
import { finetuneQuantized } from '../../compress/quantized-finetune.js';
import { shrinkModel } from '../../compress/structured.js';
import type { Dataset } from '../../data/dataset.js';
import { saveModel } from '../../models/file-io.js';
import { backendInfo } from '../../runtime/backend.js';
import { deterministicValidationMetrics } from '../../train/validation-metrics.js';
import { writeFileAtomic, writeJsonAtomic } from '../../util/atomic-write.js';
import { BayescompError } from '../../util/errors.js';
import { type CompressionSource, loadCompressionSource } from '../compress-source.js';
import { startBackend, withDataOptions, withOutputOptions } from '../common-options.js';
import { type CliIo, printJson } from '../io.js';
import { commaList, finiteNumber, nonNegativeInt, positiveInt } from '../parse-options.js';
import { resolveDataset } from '../resolve-inputs.js';
import { finishRunRecord, newRunRecord, writeRunRecord } from '../run-dir.js';

type Step = 'prune' | 'quantize' | 'export';
type ExportFormat = 'tfjs' | 'shrunk' | 'compact';

export interface CompressOptions {
  out: string;
  criterion?: PruningCriterion;
  threshold?: number;
  sparsity?: number;
  maxAccuracyDrop?: number;
  scope: 'global' | 'per-layer';
  epsilon: number;
  method?: 'precision' | 'vnq' | 'uniform' | 'kmeans';
  bits: number;
  /** Layers left at float32 by the quantisation (pruned only). */
  keepFloat?: string[];
  format: ExportFormat | 'all';
  data?: string;
  dataDir?: string;
  download: boolean;
  sweep?: boolean;
  json?: boolean;
  /** Optimal-Brain-Surgeon update of the kept weights from a Laplace posterior (see `laplaceObsWeights`). */
  obs?: boolean;
  /** Rounds of OBS pruning (re-ranking by the updated posterior between rounds); 1 = one-shot mask + update. */
  obsSteps?: number;
  /** Epochs of quantisation-aware fine-tuning on the training split after snapping (codebook methods). */
  finetune?: number;
  /** Adam's learning rate for {@link CompressOptions.finetune}. */
  finetuneLr?: number;
  /** Keep the codebook values fixed during {@link CompressOptions.finetune} (default: they train too). */
  finetuneFixedCodebook?: boolean;
  /** Shuffle seed of the fine-tuning. */
  seed?: number;
}

const SWEEP_SPARSITIES = [0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995];

/** `bayescomp prune | quantize | export`: one pipeline, stopping after pruning, after quantisation, or exporting. */
export function registerCompress(program: Command, io: CliIo): void {
  for (const step of ['prune', 'quantize', 'export'] as const) {
    const command = program
      .command(`${step} <source>`)
      .description(
        {
          prune: 'prune a run (variational or MAP), a Laplace directory or a model.json by its posterior',
          quantize:
            'prune, then quantise the kept weights (bit precision from the posterior, VNQ codebook, k-bit)',
          export:
            'prune and quantise, then write a plain TF.js model, the shrunk architecture, or the compact format',
        }[step],
      )
      .requiredOption('--out <dir>', 'output directory')
      .addOption(
        new Option(
          '--criterion <name>',
          'pruning rule (default: log-alpha for sparse posteriors, snr for Gaussian/Laplace, magnitude for plain weights)',
        ).choices(['log-alpha', 'snr', 'density-ratio', 'mass-near-zero', 'savage-dickey', 'magnitude']),
      )
      .option(
        '--threshold <t>',
        'threshold in the criterion’s units (default: the criterion’s own)',
        finiteNumber,
      )
      .option('--sparsity <f>', 'prune this fraction of weights, ranked by the criterion', finiteNumber)
      .option(
        '--max-accuracy-drop <d>',
        'prune as much as possible while test accuracy drops by at most d (needs --data)',
        finiteNumber,
      )
      .addOption(
        new Option('--scope <scope>', 'rank weights across all layers or per layer')
          .choices(['global', 'per-layer'])
          .default('global'),
      )
      .option('--epsilon <e>', 'half-width of "near zero" for mass-near-zero', finiteNumber, 0.01)
      .option('--data <data>', 'dataset whose test split measures accuracy/NLL before and after')
      .option('--sweep', 'also record accuracy against sparsity over a range of targets (needs --data)')
      .option(
        '--obs',
        'Laplace directories: update the kept weights and biases by Optimal Brain Surgeon (condition the posterior on the pruned weights being zero)',
      )
      .option(
        '--obs-steps <n>',
        'with --obs and --sparsity: prune in n rounds, re-ranking by the updated posterior’s w²/variance between them',
        positiveInt,
        1,
      );
    if (step !== 'prune') {
      command
        .addOption(
          new Option('--method <m>', 'quantisation').choices(['precision', 'vnq', 'uniform', 'kmeans']),
        )
        .option('--bits <k>', 'bits for uniform/k-means quantisation', positiveInt, 4)
        .option(
          '--keep-float <layers>',
          'comma-separated Dense/Conv2D layers to prune but leave at float32 (e.g. a first convolution)',
          commaList,
        )
        .option(
          '--finetune <epochs>',
          'after snapping, train this many epochs through the snap (straight-through; masks and code width fixed; needs --data; vnq/uniform/kmeans)',
          positiveInt,
        )
        .option(
          '--finetune-lr <lr>',
          'Adam learning rate of --finetune, falling linearly to 0 over it',
          finiteNumber,
          1e-4,
        )
        .option(
          '--finetune-fixed-codebook',
          'keep the codebook values fixed during --finetune (default: the nonzero values train too)',
        )
        .option('--seed <n>', 'shuffle seed of --finetune', nonNegativeInt, 0);
    }
    if (step === 'export') {
      command.addOption(
        new Option('--format <f>', 'export format')
          .choices(['tfjs', 'shrunk', 'compact', 'all'])
          .default('all'),
      );
    }
    withDataOptions(command);
    withOutputOptions(command, false);
    command.action(async (source: string, options: CompressOptions) => {
      await startBackend(program);
      const result = await runCompress(step, source, options, (line) => io.err(line));
      if (options.json) printJson(io, result);
      else {
        io.out(result.table + '\n');
        for (const [format, bytes] of Object.entries(result.bytes)) io.out(`${format}: ${bytes} bytes\n`);
        if (result.metrics.before) {
          const m = result.metrics;
          io.out(
            `accuracy ${(100 * m.before!.accuracy).toFixed(2)}% → pruned ${(100 * m.pruned!.accuracy).toFixed(2)}%` +
              (m.quantized ? ` → quantised ${(100 * m.quantized.accuracy).toFixed(2)}%` : '') +
              '\n',
          );
        }
      }
    });
  }
}

/** What the compression commands write to `compression.json` and print with `--json`. */
export interface CompressResult {
  readonly step: Step;
  readonly source: string;
  readonly sourceKind: CompressionSource['kind'];
  readonly criterion: PruningCriterion;
  /** How kept weights were treated after pruning: left at their values, or updated by OBS (`--obs`). */
  readonly update: 'none' | 'obs';
  /** OBS pruning rounds (with `update: 'obs'`). */
  readonly obsSteps?: number;
  readonly backend: string;
  readonly rows: ReturnType<typeof summarizeCompression>['rows'];
  readonly totals: ReturnType<typeof summarizeCompression>['totals'];
  readonly table: string;
  readonly quantization?: string;
  readonly units?: ReadonlyArray<{ readonly name: string; readonly before: number; readonly after: number }>;
  readonly bytes: Readonly<Record<string, number>>;
  readonly metrics: {
    readonly before?: Record<string, number>;
    readonly pruned?: Record<string, number>;
    readonly quantized?: Record<string, number>;
  };
  /** Quantisation-aware fine-tuning, when asked for: epochs, learning rate and each epoch's mean training loss. */
  readonly finetune?: {
    readonly epochs: number;
    readonly lr: number;
    readonly losses: readonly number[];
    /** Test accuracy after each epoch (NaN without test data). */
    readonly accuracy: readonly number[];
  };
  readonly sweep?: ReadonlyArray<{
    readonly sparsity: number;
    readonly compression: number;
    readonly accuracy: number;
    readonly nll: number;
  }>;
}

/** Runs the pipeline for `step`; exported for the demo. */
export async function runCompress(
  step: Step,
  sourceSpec: string,
  options: CompressOptions,
  log: (line: string) => void = (line) => void process.stderr.write(line),
): Promise<CompressResult> {
  const source = await loadCompressionSource(sourceSpec);
  const criterion = options.criterion ?? source.defaultCriterion;
  const test = options.data ? await testSplit(options) : undefined;
  if ((options.maxAccuracyDrop !== undefined || options.sweep) && !test) {
    throw new BayescompError('bad-config', '--max-accuracy-drop and --sweep need --data to measure accuracy');
  }
  const laplace = source.laplace;
  if (options.obs && !laplace) {
    throw new BayescompError('bad-config', `--obs needs a Laplace directory (made by 'bayescomp laplace')`);
  }
  const obsSteps = options.obsSteps ?? 1;
  if (obsSteps > 1 && (!options.obs || options.sparsity === undefined)) {
    throw new BayescompError('bad-config', '--obs-steps needs --obs and --sparsity');
  }
  const record = newRunRecord(step, { source: sourceSpec, ...options }, 0);
  await writeRunRecord(options.out, record);
  const original = source.posteriors.map((p) => p.mean);
  const originalBiases = options.obs ? readBiases(source.model) : new Map<string, Float32Array>();
  // The kernels (and, with --obs, biases) the model gets for a mask set: masked values, or the OBS-updated ones.
  const prunedWeights = (masks: MaskSet) => {
    const updated = options.obs ? laplaceObsWeights(laplace!, masks) : undefined;
    const kernels = new Map(
      source.posteriors.map((p, i) => [
        p.name,
        updated?.get(p.layer)?.kernel ?? maskValues(original[i], masks.get(p.name)),
      ]),
    );
    const biases = new Map([...(updated ?? [])].flatMap(([name, w]) => (w.bias ? [[name, w.bias]] : [])));
    return { kernels, biases };
  };
  const evaluate = async (masks: MaskSet | undefined) => {
    if (!test) return undefined;
    if (masks) {
      const { kernels, biases } = prunedWeights(masks);
      setKernels(source.model, kernels);
      setBiases(source.model, biases);
    } else {
      setKernels(source.model, new Map(source.posteriors.map((p, i) => [p.name, original[i]])));
      setBiases(source.model, originalBiases);
    }
    return deterministicValidationMetrics(source.logits, test);
  };
  const before = await evaluate(undefined);
  const spec = await choosePruning(source, criterion, options, before, evaluate);
  const masks =
    obsSteps > 1
      ? laplaceObsPruneMasks(
          laplace!,
          computeMasks(source.posteriors, {
            ...spec,
            targetSparsity: obsSparsitySchedule(options.sparsity!, obsSteps)[0],
          }),
          { sparsity: options.sparsity!, steps: obsSteps, scope: options.scope },
        ).masks
      : computeMasks(source.posteriors, spec);
  const pruned = await evaluate(masks);
  let sweep: CompressResult['sweep'];
  if (options.sweep) {
    const points = [];
    for (const sparsity of SWEEP_SPARSITIES) {
      const m = await evaluate(
        computeMasks(source.posteriors, {
          criterion,
          targetSparsity: sparsity,
          scope: options.scope,
          epsilon: options.epsilon,
        }),
      );
      points.push({ sparsity, compression: 1 / (1 - sparsity), accuracy: m!.accuracy, nll: m!.nll });
    }
    sweep = points;
  }
  const method =
    step === 'prune'
      ? undefined
      : quantizationMethod(options.method ?? defaultQuantization(step, source), options, source);
  // With --obs, quantisation works on the updated kept weights (marginal variances unchanged: conservative bits).
  const final = options.obs ? prunedWeights(masks) : undefined;
  const posteriors = final
    ? source.posteriors.map((p) => ({ ...p, mean: final.kernels.get(p.name) ?? p.mean }))
    : source.posteriors;
  if (final) setBiases(source.model, final.biases);
  const keepFloat = new Set(options.keepFloat ?? []);
  for (const name of keepFloat)
    if (!posteriors.some((p) => p.layer === name))
      throw new BayescompError(
        'bad-config',
        `--keep-float: no Dense/Conv2D layer named '${name}' (layers: ${posteriors.map((p) => p.layer).join(', ')})`,
      );
  let quantized = quantizeKernels(posteriors, masks, method, keepFloat);
  setKernels(source.model, quantized.kernels);
  let finetuneLosses: number[] | undefined;
  const finetuneAccuracy: number[] = [];
  if (options.finetune !== undefined) {
    if (!method || method.kind === 'precision' || !options.data) {
      throw new BayescompError('bad-config', '--finetune needs --method vnq, uniform or kmeans and --data');
    }
    const floats = new Map(posteriors.map((p) => [p.name, maskValues(p.mean, masks.get(p.name))]));
    const tuned = await finetuneQuantized(
      source.logits,
      floats,
      quantized,
      masks,
      await trainSplit(options),
      {
        epochs: options.finetune,
        learningRate: options.finetuneLr ?? 1e-4,
        learnCodebook: !options.finetuneFixedCodebook,
        seed: options.seed,
        onEpoch: async (epoch, loss) => {
          const m = test ? await deterministicValidationMetrics(source.logits, test) : undefined;
          finetuneAccuracy.push(m?.accuracy ?? NaN);
          log(
            `fine-tuning epoch ${epoch + 1}: loss ${loss.toFixed(4)}` +
              (m ? `, test accuracy ${(100 * m.accuracy).toFixed(2)}%\n` : '\n'),
          );
        },
      },
    );
    quantized = tuned.quantized;
    finetuneLosses = tuned.epochLosses;
  }
  const quantizedMetrics =
    method && test ? await deterministicValidationMetrics(source.logits, test) : undefined;
  const summary = summarizeCompression(posteriors, masks, quantizedBits(quantized));
  const bytes: Record<string, number> = {};
  let units: CompressResult['units'];
  const formats: ExportFormat[] =
    step === 'export'
      ? options.format === 'all'
        ? ['tfjs', 'shrunk', 'compact']
        : [options.format]
      : ['tfjs'];
  for (const format of formats) {
    if (format === 'tfjs') {
      const dir = join(options.out, 'model');
      await saveModel(source.model, dir);
      bytes.tfjs = await directoryBytes(dir, ['model.json', 'weights.bin']);
    } else if (format === 'shrunk') {
      const shrunk = await shrinkModel(source.model);
      units = shrunk.layers;
      const dir = join(options.out, 'shrunk');
      await saveModel(shrunk.model, dir);
      bytes.shrunk = await directoryBytes(dir, ['model.json', 'weights.bin']);
      shrunk.model.dispose();
    } else {
      const plan = new Map(
        source.posteriors.map((p) => [
          p.name.replace(/\/kernel$/, '/kernel'),
          { mask: masks.get(p.name), quantization: quantized.codebooks?.get(p.name) },
        ]),
      );
      const encoded = encodeCompactModel(source.model, plan);
      const file = join(options.out, 'model.bcmp');
      await writeFileAtomic(file, encoded);
      bytes.compact = (await stat(file)).size;
    }
  }
  const result: CompressResult = {
    step,
    source: sourceSpec,
    sourceKind: source.kind,
    criterion,
    update: options.obs ? 'obs' : 'none',
    obsSteps: options.obs ? obsSteps : undefined,
    backend: backendInfo()?.name ?? tf.getBackend(),
    rows: summary.rows,
    totals: summary.totals,
    table: formatCompressionTable(summary),
    quantization: method
      ? method.kind === 'codebook'
        ? 'vnq'
        : method.kind === 'precision'
          ? 'precision'
          : `${method.kind}-${options.bits}bit`
      : undefined,
    units,
    bytes,
    metrics: { before, pruned, quantized: quantizedMetrics },
    ...(finetuneLosses
      ? {
          finetune: {
            epochs: finetuneLosses.length,
            lr: options.finetuneLr ?? 1e-4,
            losses: finetuneLosses,
            accuracy: finetuneAccuracy,
          },
        }
      : {}),
    sweep,
  };
  await writeJsonAtomic(join(options.out, 'compression.json'), result);
  await writeRunRecord(options.out, finishRunRecord(record));
  return result;
}

/** The bias of every layer that has one, by layer name. */
function readBiases(model: tf.LayersModel): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const layer of model.layers) {
    const weights = layer.getWeights();
    if (weights.length === 2 && weights[1].rank === 1 && layer.getConfig().useBias)
      out.set(layer.name, weights[1].dataSync() as Float32Array);
  }
  return out;
}

/** Writes biases (by layer name) into a model's layers, in place. */
function setBiases(model: tf.LayersModel, biases: ReadonlyMap<string, Float32Array>): void {
  for (const [name, values] of biases) {
    const layer = model.getLayer(name);
    const [kernel, _bias, ...rest] = layer.getWeights();
    const replacement = tf.tensor1d(values);
    layer.setWeights([kernel, replacement, ...rest]);
    replacement.dispose();
  }
}

function maskValues(values: Float32Array, mask: Uint8Array | undefined): Float32Array {
  return mask ? values.map((v, i) => (mask[i] ? v : 0)) : values;
}

async function trainSplit(options: CompressOptions): Promise<Dataset> {
  const data = await resolveDataset(options.data!, { dataDir: options.dataDir, download: options.download });
  if (!data.train)
    throw new BayescompError('bad-config', `${data.name} has no training split to fine-tune on`);
  return data.train;
}

async function testSplit(options: CompressOptions): Promise<Dataset> {
  const data = await resolveDataset(options.data!, { dataDir: options.dataDir, download: options.download });
  const test = data.test ?? data.train;
  if (!test) throw new BayescompError('bad-config', `${data.name} holds no examples`);
  return test;
}

/**
 * The pruning spec from the options: a fixed threshold, a target sparsity, the largest sparsity whose accuracy
 * stays within `--max-accuracy-drop` (bisection on the sparsity: accuracy falls with it), or the default threshold.
 */
async function choosePruning(
  source: CompressionSource,
  criterion: PruningCriterion,
  options: CompressOptions,
  before: Record<string, number> | undefined,
  evaluate: (masks: MaskSet) => Promise<Record<string, number> | undefined>,
): Promise<PruningSpec> {
  const base = { criterion, scope: options.scope, epsilon: options.epsilon };
  if (options.threshold !== undefined) return { ...base, threshold: options.threshold };
  if (options.sparsity !== undefined) return { ...base, targetSparsity: options.sparsity };
  if (options.maxAccuracyDrop !== undefined && before) {
    let lo = 0;
    let hi = 0.999;
    for (let i = 0; i < 12; i++) {
      const mid = (lo + hi) / 2;
      const m = await evaluate(computeMasks(source.posteriors, { ...base, targetSparsity: mid }));
      if (before.accuracy - m!.accuracy <= options.maxAccuracyDrop) lo = mid;
      else hi = mid;
    }
    return { ...base, targetSparsity: lo };
  }
  const sameCriterion = criterion === source.defaultCriterion;
  // An already pruned model: its zeros are the pruned weights; a magnitude threshold would cut quantised values too.
  if (sameCriterion && source.compressedBy) return { ...base, threshold: Number.MIN_VALUE };
  return sameCriterion && source.defaultThresholds ? { ...base, threshold: source.defaultThresholds } : base;
}

/**
 * The quantisation when `--method` is not given: the learned codebook for VNQ, bit precision for other posteriors,
 * none when exporting an already compressed model (it is written as it is).
 */
function defaultQuantization(step: Step, source: CompressionSource): string | undefined {
  if (source.codebooks.size) return 'vnq';
  if (source.kind !== 'point') return 'precision';
  if (step === 'export') return undefined;
  throw new BayescompError(
    'bad-config',
    source.compressedBy === 'quantize'
      ? 'this is the output of `bayescomp quantize`, already quantised: export it, or quantise the original run'
      : 'plain weights have no posterior for bit precision: give --method uniform or --method kmeans',
  );
}

function quantizationMethod(
  name: string | undefined,
  options: CompressOptions,
  source: CompressionSource,
): QuantizationMethod | undefined {
  if (name === undefined) return undefined;
  if (name === 'vnq') {
    if (!source.codebooks.size)
      throw new BayescompError('bad-config', '--method vnq needs a model trained with --method vnq');
    return { kind: 'codebook', codebooks: source.codebooks };
  }
  if (name === 'precision') {
    if (source.kind === 'point')
      throw new BayescompError(
        'bad-config',
        'precision quantisation needs a posterior (variational or Laplace)',
      );
    return { kind: 'precision' };
  }
  return { kind: name as 'uniform' | 'kmeans', bits: options.bits };
}

async function directoryBytes(dir: string, files: readonly string[]): Promise<number> {
  let total = 0;
  for (const f of files) total += (await stat(join(dir, f))).size;
  return total;
}
