/** The figures of a run report: which charts a {@link RunSummary} has data for, drawn in report order. */
import { reliabilityDiagram } from './calibration-charts.js';
import type { HistogramSeries } from './chart-data.js';
import { accuracyCompressionCurve, sparsityBars } from './compression-charts.js';
import {
  confidenceHistogram,
  entropyHistogram,
  histogramChart,
  logAlphaHistogram,
  snrHistogram,
} from './histogram-charts.js';
import type { ChartOutput } from './render.js';
import { type RunSummary, type ScoreHistograms, layerSparsities } from './run-summary.js';
import { trainingCurves } from './training-charts.js';
import { weightMaskImage } from './weight-image.js';

/** A rendered figure of the report. */
export interface ReportFigure {
  /** Stable id (`reliability-map`, `training-curves`, …), used as the element id and the PNG file name. */
  readonly id: string;
  readonly caption: string;
  readonly chart?: ChartOutput;
  /** Why the figure could not be drawn, when it could not. */
  readonly error?: string;
}

/** A lower-case id fragment from a free-text name. */
function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'x'
  );
}

function scoreSeries(h: ScoreHistograms | undefined): HistogramSeries[] {
  if (!h) return [];
  return [
    { label: 'test (in-distribution)', histogram: h.inDistribution },
    ...(h.outOfDistribution ? [{ label: 'out-of-distribution', histogram: h.outOfDistribution }] : []),
  ];
}

interface FigureJob {
  readonly id: string;
  readonly caption: string;
  readonly draw: () => Promise<ChartOutput>;
}

/** Every figure the summary has data for, in report order. */
function figureJobs(summary: RunSummary): FigureJob[] {
  const jobs: FigureJob[] = [];
  const used = new Set<string>();
  const add = (id: string, caption: string, draw: () => Promise<ChartOutput>) => {
    let unique = id;
    for (let k = 2; used.has(unique); k++) unique = `${id}-${k}`;
    used.add(unique);
    jobs.push({ id: unique, caption, draw });
  };
  for (const m of summary.methods ?? []) {
    const name = m.method;
    if (m.metrics.reliability && m.metrics.reliability.length > 0) {
      const bins = m.metrics.reliability;
      add(`reliability-${slug(name)}`, `Reliability diagram — ${name}`, () =>
        reliabilityDiagram(bins, { ece: m.metrics.ece, title: `Reliability — ${name}` }),
      );
    }
    const h = m.histograms;
    if (h?.confidence) {
      const s = scoreSeries(h.confidence);
      add(`confidence-${slug(name)}`, `Confidence, test vs out-of-distribution — ${name}`, () =>
        confidenceHistogram(s, { title: `Confidence — ${name}` }),
      );
    }
    if (h?.entropy) {
      const s = scoreSeries(h.entropy);
      add(`entropy-${slug(name)}`, `Predictive entropy, test vs out-of-distribution — ${name}`, () =>
        entropyHistogram(s, { title: `Predictive entropy — ${name}` }),
      );
    }
    if (h?.mutualInformation) {
      const s = scoreSeries(h.mutualInformation);
      add(`mutual-information-${slug(name)}`, `Mutual information (epistemic uncertainty) — ${name}`, () =>
        histogramChart(s, { title: `Mutual information — ${name}`, xTitle: 'mutual information (nats)' }),
      );
    }
  }
  if (summary.history && summary.history.length > 0) {
    const history = summary.history;
    add('training-curves', 'Training curves per epoch', () => trainingCurves(history, {}));
  }
  if (summary.compression && summary.compression.layers.length > 0) {
    const layers = layerSparsities(summary.compression);
    add('sparsity', 'Fraction of weights removed per layer', () => sparsityBars(layers, {}));
  }
  const posterior = summary.posterior;
  if (posterior?.logAlpha && posterior.logAlpha.length > 0) {
    const series = posterior.logAlpha.map((l) => ({ label: l.layer, histogram: l.histogram }));
    add('log-alpha', 'log α per layer, with the pruning threshold', () =>
      logAlphaHistogram(series, { threshold: posterior.logAlphaThreshold ?? 3 }),
    );
  }
  if (posterior?.snr && posterior.snr.length > 0) {
    const series = posterior.snr.map((l) => ({ label: l.layer, histogram: l.histogram }));
    add('snr', 'Signal-to-noise ratio |μ|/σ per layer', () =>
      snrHistogram(series, { threshold: posterior.snrThreshold }),
    );
  }
  if (summary.accuracyVsCompression && summary.accuracyVsCompression.length > 0) {
    const points = summary.accuracyVsCompression;
    add('accuracy-vs-compression', 'Accuracy against compression ratio', () =>
      accuracyCompressionCurve(points, {}),
    );
  }
  for (const image of summary.weightImages ?? []) {
    const mode = image.mode ?? 'magnitude';
    add(
      `weights-${slug(image.layer)}-${mode}`,
      `${mode === 'mask' ? 'Kept weights' : 'Weight magnitudes'} — ${image.layer}`,
      () =>
        weightMaskImage(
          { rows: image.rows, cols: image.cols, values: image.values.map((v) => v ?? Number.NaN) },
          {
            mode,
            title: `${mode === 'mask' ? 'Kept weights' : '|w|'} — ${image.layer}`,
            rowTitle: image.rowTitle,
            colTitle: image.colTitle,
          },
        ),
    );
  }
  return jobs;
}

/**
 * Draws every figure the summary has data for. A figure that fails to draw is reported with its error instead of
 * failing the whole report.
 */
export async function renderReportFigures(summary: RunSummary): Promise<ReportFigure[]> {
  const figures: ReportFigure[] = [];
  for (const job of figureJobs(summary)) {
    try {
      figures.push({ id: job.id, caption: job.caption, chart: await job.draw() });
    } catch (err) {
      figures.push({
        id: job.id,
        caption: job.caption,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
  return figures;
}
