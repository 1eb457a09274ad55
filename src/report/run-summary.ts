/**
 * The data a report is made of: {@link RunSummary}, plain JSON-serialisable values only, so the CLI can assemble
 * it from a run directory, write it as `summary.json`, and rebuild the same report from that file later.
 */
import type { EvaluationMetrics, EvaluationScores } from '../eval/evaluate.js';
import type { CompressionPoint, LayerSparsity } from './compression-charts.js';
import type { ReliabilityBinData } from './calibration-charts.js';
import { type Histogram, histogramOf } from './histogram.js';
import type { HistoryRecord } from './training-charts.js';

/** Any JSON value. */
export type JsonValue =
  null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** The TF.js backend a run used (`name` is required: every result must say where it was computed). */
export interface BackendSummary {
  /** Backend name, e.g. `wasm`, `cpu`, `tensorflow`. */
  readonly name: string;
  /** A one-line description, e.g. `wasm (SIMD, 1 thread) on tfjs 4.22.0` (`describeBackend`). */
  readonly description?: string;
  readonly tfjsVersion?: string;
  readonly simd?: boolean;
  readonly threads?: number;
}

/**
 * A method's test-set figures: the fields of `EvaluationMetrics` from `src/eval` (which can be passed as is),
 * all optional except accuracy, NLL, ECE, Brier and n. Values may be null where JSON turned NaN into null.
 */
export interface MethodMetrics {
  readonly accuracy: number;
  readonly nll: number;
  /** Fraction, not percent. */
  readonly ece: number;
  readonly brier: number;
  readonly n: number;
  readonly bins?: number;
  readonly numSamples?: number;
  readonly mean_entropy?: number | null;
  readonly mean_mi?: number | null;
  readonly predict_seconds?: number;
  readonly ood?: {
    readonly auroc_maxprob?: number | null;
    readonly auroc_entropy?: number | null;
    readonly auroc_mi?: number | null;
    readonly fpr95_maxprob?: number | null;
    readonly fpr95_entropy?: number | null;
    readonly fpr95_mi?: number | null;
    readonly n_in?: number;
    readonly n_out?: number;
  };
  /** The reliability table (as `EvaluationMetrics.reliability`). */
  readonly reliability?: readonly ReliabilityBinData[];
}

/** Histograms of one uncertainty score for the test set and, when evaluated, the OOD set. */
export interface ScoreHistograms {
  readonly inDistribution: Histogram;
  readonly outOfDistribution?: Histogram;
}

/** One method's row of the metrics table and its plots. */
export interface MethodSummary {
  /** Display name: `MAP`, `deep ensemble (M=5)`, `MC dropout (S=30)`, `mean-field VI`, `Laplace (last-layer KFAC)`, … */
  readonly method: string;
  readonly metrics: MethodMetrics;
  /** Histograms of the per-example scores (see {@link methodSummaryFromEvaluation}). */
  readonly histograms?: {
    readonly confidence?: ScoreHistograms;
    readonly entropy?: ScoreHistograms;
    readonly mutualInformation?: ScoreHistograms;
  };
  /** Seconds per phase for this method (e.g. `train`, `fit`, `predict`). */
  readonly timings?: Readonly<Record<string, number>>;
}

/** One layer's row of the compression table. */
export interface ReportCompressionRow {
  readonly name: string;
  /** Weights before compression. */
  readonly weights: number;
  /** Non-zero weights kept. */
  readonly kept: number;
  /** Fraction removed; computed as 1 − kept/weights when absent. */
  readonly sparsity?: number;
  /** Neurons (dense) or filters (conv) before and after structured pruning. */
  readonly units?: number;
  readonly keptUnits?: number;
  /** Bits per kept weight after quantisation (32 for float). */
  readonly bits?: number;
}

/** The compression table: per-layer rows, totals, and sizes and accuracies around pruning and quantisation. */
export interface ReportCompressionTable {
  readonly layers: readonly ReportCompressionRow[];
  /** Exact sizes in bytes of each export (e.g. `{ "dense (float32)": 1066504, "compact": 41230 }`). */
  readonly bytes?: Readonly<Record<string, number>>;
  /** Accuracy (or any metric) at stages, e.g. `{ "before pruning": 0.89, "after pruning": 0.885 }`. */
  readonly accuracy?: Readonly<Record<string, number>>;
}

/** A histogram for one layer (log α, SNR). */
export interface LayerHistogram {
  readonly layer: string;
  readonly histogram: Histogram;
}

/** A small weight matrix to draw (see `weightMaskImage`); `values` row-major, ideally downsampled already. */
export interface WeightImageData {
  readonly layer: string;
  readonly mode?: 'magnitude' | 'mask';
  readonly rows: number;
  readonly cols: number;
  /** Row-major values; NaN (null in JSON) marks gaps between tiles, as `kernelImageMatrix` lays them out. */
  readonly values: readonly (number | null)[];
  /** Axis titles, e.g. `filter` and `input channel` for a tiled Conv2D kernel. */
  readonly rowTitle?: string;
  readonly colTitle?: string;
}

/**
 * Everything a report shows about one run. Only `backend.name` and `config` are required; every other section is
 * shown when present and marked "not recorded" otherwise. Plain JSON data throughout.
 */
export interface RunSummary {
  /** Version of this structure (bumped on incompatible changes). */
  readonly schemaVersion: 1;
  /** Heading of the report. Default `bayescomp run`. */
  readonly title?: string;
  /** The run directory, as given. */
  readonly runDir?: string;
  /** ISO 8601 time the run (or the report) was made. */
  readonly createdAt?: string;
  /** The command line that made the run. */
  readonly command?: string;
  readonly seed?: number;
  /** The run's configuration (flags or config file), shown key by key. */
  readonly config: Readonly<Record<string, JsonValue>>;
  /** Datasets used, e.g. `{ train: "fashion-mnist", ood: "mnist" }`. */
  readonly datasets?: Readonly<Record<string, string>>;
  readonly backend: BackendSummary;
  /** Versions of bayescomp, TF.js, Node, … */
  readonly versions?: Readonly<Record<string, string>>;
  /** Seconds per phase (e.g. `train`, `laplace fit`, `evaluate`). */
  readonly timings?: Readonly<Record<string, number>>;
  /** One row per method, side by side. */
  readonly methods?: readonly MethodSummary[];
  readonly compression?: ReportCompressionTable;
  /** Per-epoch training log (e.g. the trainer's `history.json`). */
  readonly history?: readonly HistoryRecord[];
  /** Posterior summaries per layer. */
  readonly posterior?: {
    readonly logAlpha?: readonly LayerHistogram[];
    /** Pruning threshold on log α to draw. Default 3. */
    readonly logAlphaThreshold?: number;
    readonly snr?: readonly LayerHistogram[];
    readonly snrThreshold?: number;
  };
  /** An accuracy-vs-compression sweep. */
  readonly accuracyVsCompression?: readonly CompressionPoint[];
  readonly weightImages?: readonly WeightImageData[];
  /** Free-text remarks shown at the end. */
  readonly notes?: readonly string[];
}

/** Options for {@link methodSummaryFromEvaluation}. */
export interface MethodSummaryOptions {
  /** Histogram bins of each score. Default 20. */
  readonly bins?: number;
  readonly timings?: Readonly<Record<string, number>>;
}

/**
 * A {@link MethodSummary} from `evaluatePredictiveWithScores` (src/eval): its metrics, and histograms of confidence
 * on [0, 1] and of entropy and mutual information on [0, ln C], for the test and OOD sets.
 */
export function methodSummaryFromEvaluation(
  evaluation: { readonly metrics: EvaluationMetrics; readonly scores: EvaluationScores },
  options: MethodSummaryOptions = {},
): MethodSummary {
  const { metrics, scores } = evaluation;
  const bins = options.bins ?? 20;
  const maxEntropy = Math.log(metrics.numClasses);
  const pair = (
    inValues: ArrayLike<number>,
    outValues: ArrayLike<number> | undefined,
    max: number,
  ): ScoreHistograms => ({
    inDistribution: histogramOf(inValues, { bins, min: 0, max }),
    ...(outValues ? { outOfDistribution: histogramOf(outValues, { bins, min: 0, max }) } : {}),
  });
  const inScores = scores.inDistribution;
  const outScores = scores.outOfDistribution;
  return {
    method: metrics.method,
    metrics,
    histograms: {
      confidence: pair(inScores.maxProbability, outScores?.maxProbability, 1),
      entropy: pair(inScores.entropy, outScores?.entropy, maxEntropy),
      ...(inScores.mutualInformation
        ? { mutualInformation: pair(inScores.mutualInformation, outScores?.mutualInformation, maxEntropy) }
        : {}),
    },
    ...(options.timings ? { timings: options.timings } : {}),
  };
}

/** Each layer's sparsity from the compression table (1 − kept/weights when not given). */
export function layerSparsities(compression: ReportCompressionTable): LayerSparsity[] {
  return compression.layers.map((l) => ({ name: l.name, sparsity: rowSparsity(l) }));
}

/** A row's sparsity, computed when absent. */
export function rowSparsity(row: ReportCompressionRow): number {
  return row.sparsity ?? (row.weights > 0 ? 1 - row.kept / row.weights : 0);
}

/** Totals of the compression table. */
export interface ReportCompressionTotals {
  readonly weights: number;
  readonly kept: number;
  readonly sparsity: number;
  /** |W| / |W ≠ 0|. */
  readonly ratio: number;
  /** 32·|W| / Σ kept·bits, when every layer states its bits. */
  readonly bitRatio?: number;
}

/** Sums the per-layer rows into totals. */
export function reportCompressionTotals(compression: ReportCompressionTable): ReportCompressionTotals {
  let weights = 0;
  let kept = 0;
  let keptBits = 0;
  let allBits = compression.layers.length > 0;
  for (const l of compression.layers) {
    weights += l.weights;
    kept += l.kept;
    if (l.bits === undefined) allBits = false;
    else keptBits += l.kept * l.bits;
  }
  return {
    weights,
    kept,
    sparsity: weights > 0 ? 1 - kept / weights : 0,
    ratio: kept > 0 ? weights / kept : Infinity,
    ...(allBits && keptBits > 0 ? { bitRatio: (32 * weights) / keptBits } : {}),
  };
}
