import type { Dataset } from '../data/dataset.js';
import { mcDropoutPredictive } from '../eval/baselines.js';
import { evaluatePredictive, type EvaluationMetrics } from '../eval/evaluate.js';
import { deterministicPredictive, ensemblePredictive, type Predictive } from '../eval/predictive.js';
import { Random, setGlobalSeed } from '../runtime/random.js';
import { BayescompError } from '../util/errors.js';
import { bayesianLayers, bayesianPredictive } from '../variational/index.js';
import { isEnsembleRecord, isMcDropoutRecord, loadEnsembleMembers, runRecordIfAny } from './ensemble-run.js';
import { isLaplaceDir, laplacePredictive, loadLaplaceDir } from './laplace-source.js';
import { type DataOptions, resolveDataset, resolveModel } from './resolve-inputs.js';
import { readRunRecord, type RunRecord } from './run-dir.js';

/** What kind of predictive a `--model` gives. */
export type PredictiveKind = 'deterministic' | 'variational' | 'mc-dropout' | 'ensemble' | 'laplace';

/** A `--model`'s predictive, what it is, and the models behind it (disposed by `dispose`). */
export interface ModelPredictive {
  readonly predictive: Predictive;
  readonly kind: PredictiveKind;
  /** The `run.json` of a run or Laplace directory. */
  readonly record?: RunRecord;
  dispose(): void;
}

/** Options of the Monte-Carlo predictives. */
export interface PredictiveChoice {
  /** Monte-Carlo samples (variational, MC dropout, sampled Laplace). */
  readonly samples: number;
  /** Seed of the Monte-Carlo draws. */
  readonly seed: number;
  readonly batchSize?: number;
}

/**
 * The predictive of `--model`, chosen by what it is: a Laplace directory's linearised (or sampled) predictive with
 * the options it was fitted with; a deep-ensemble run's mean of member softmaxes; an MC dropout run's Monte-Carlo
 * predictive with dropout on; a variational run's Monte-Carlo predictive over its posterior; otherwise the
 * deterministic network (a `model.json` with Dropout layers is evaluated with dropout off).
 */
export async function modelPredictive(
  spec: string,
  data: Dataset,
  choice: PredictiveChoice,
): Promise<ModelPredictive> {
  const batchSize = choice.batchSize;
  if (await isLaplaceDir(spec)) {
    const { model, posterior } = await loadLaplaceDir(spec);
    const record = await readRunRecord(spec);
    const fitted = record.options as { predictive?: 'glm' | 'nn'; link?: 'probit' | 'mc' };
    return {
      predictive: laplacePredictive(posterior, {
        method: fitted.predictive,
        link: fitted.link,
        samples: choice.samples,
        batchSize,
      }),
      kind: 'laplace',
      record,
      dispose: () => {
        posterior.dispose();
        model.dispose();
      },
    };
  }
  const record = await runRecordIfAny(spec);
  if (record && isEnsembleRecord(record)) {
    const { models, logits } = await loadEnsembleMembers(spec);
    return {
      predictive: ensemblePredictive(logits, { name: `deep ensemble (M=${models.length})`, batchSize }),
      kind: 'ensemble',
      record,
      dispose: () => models.forEach((m) => m.dispose()),
    };
  }
  const { model, logits } = await resolveModel(spec, data, choice.seed);
  const dispose = (): void => void model.dispose();
  if (record && isMcDropoutRecord(record)) {
    return {
      predictive: mcDropoutPredictive(logits, { samples: choice.samples, seed: choice.seed, batchSize }),
      kind: 'mc-dropout',
      record,
      dispose,
    };
  }
  if (record && bayesianLayers(logits).length > 0) {
    return {
      predictive: bayesianPredictive(logits, {
        samples: choice.samples,
        random: new Random(choice.seed),
        batchSize,
      }),
      kind: 'variational',
      record,
      dispose,
    };
  }
  return {
    predictive: deterministicPredictive(logits, { batchSize }),
    kind: 'deterministic',
    record,
    dispose,
  };
}

/** Test set and (optionally) out-of-distribution set of an evaluation. */
export interface EvaluationData {
  readonly test: Dataset;
  readonly ood?: Dataset;
}

/** Loads `--data`'s test split (its training split when it has no test split) and `--ood`'s. */
export async function loadEvaluationData(
  data: string,
  ood: string | undefined,
  options: DataOptions = {},
): Promise<EvaluationData> {
  const splits = await resolveDataset(data, options);
  const test = splits.test ?? splits.train;
  if (!test) throw new BayescompError('bad-config', `${splits.name} holds no examples`);
  if (!ood) return { test };
  const oodSplits = await resolveDataset(ood, options);
  return { test, ood: oodSplits.test ?? oodSplits.train };
}

/** Options of {@link evaluateModel}. */
export interface EvaluateModelOptions extends PredictiveChoice {
  /** Confidence bins of the ECE. */
  readonly bins: number;
}

/**
 * `bayescomp eval`'s figures for one `--model` on loaded data: its predictive ({@link modelPredictive}) evaluated on
 * the test set, with OOD detection when `data.ood` is given. Seeds the global generator first, so Monte-Carlo
 * predictives are reproducible.
 */
export async function evaluateModel(
  spec: string,
  data: EvaluationData,
  options: EvaluateModelOptions,
): Promise<{ metrics: EvaluationMetrics; kind: PredictiveKind; record?: RunRecord }> {
  setGlobalSeed(options.seed);
  const source = await modelPredictive(spec, data.test, options);
  try {
    const metrics = await evaluatePredictive(source.predictive, data.test, {
      oodData: data.ood,
      bins: options.bins,
      batchSize: options.batchSize,
    });
    return { metrics, kind: source.kind, record: source.record };
  } finally {
    source.dispose();
  }
}
