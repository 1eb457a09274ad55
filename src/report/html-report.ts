/**
 * The run report: one self-contained `report.html` (inline CSS and SVG, no scripts, no network requests) and the
 * `summary.json` it was made from.
 */
import { writeFilesAtomic } from '../util/atomic-write.js';
import { BayescompError } from '../util/errors.js';
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
import {
  escapeHtml,
  formatCount,
  formatNumber,
  formatPercent,
  formatSeconds,
  htmlTable,
  inlineSvg,
  keyValueTable,
} from './html.js';
import { type ChartOutput, svgToPng } from './render.js';
import {
  type JsonValue,
  type MethodSummary,
  type RunSummary,
  type ScoreHistograms,
  reportCompressionTotals,
  layerSparsities,
  rowSparsity,
} from './run-summary.js';
import { trainingCurves } from './training-charts.js';
import { weightMaskImage } from './weight-image.js';

/** The report's sections, in order; each is a `<section id="…">` present in every report. */
export const REPORT_SECTIONS = [
  'configuration',
  'backend',
  'versions',
  'timings',
  'metrics',
  'compression',
  'plots',
] as const;

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

function jsonText(value: JsonValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function notRecorded(what: string): string {
  return `<p class="missing">No ${escapeHtml(what)} recorded for this run.</p>`;
}

function configurationSection(summary: RunSummary): string {
  const entries: [string, string][] = Object.entries(summary.config).map(([k, v]) => [k, jsonText(v)]);
  if (summary.seed !== undefined) entries.unshift(['seed', String(summary.seed)]);
  for (const [k, v] of Object.entries(summary.datasets ?? {})) entries.push([`data: ${k}`, v]);
  const command = summary.command ? `<p>Command: <code>${escapeHtml(summary.command)}</code></p>` : '';
  return command + (entries.length > 0 ? keyValueTable(entries) : notRecorded('configuration'));
}

function backendSection(summary: RunSummary): string {
  const b = summary.backend;
  const entries: [string, string][] = [['name', b.name]];
  if (b.description) entries.push(['description', b.description]);
  if (b.tfjsVersion) entries.push(['TF.js', b.tfjsVersion]);
  if (b.simd !== undefined) entries.push(['SIMD', b.simd ? 'yes' : 'no']);
  if (b.threads !== undefined) entries.push(['threads', String(b.threads)]);
  return keyValueTable(entries);
}

function versionsSection(summary: RunSummary): string {
  const entries = Object.entries(summary.versions ?? {});
  return entries.length > 0 ? keyValueTable(entries) : notRecorded('versions');
}

function timingsSection(summary: RunSummary): string {
  const rows: [string, string][] = Object.entries(summary.timings ?? {}).map(([k, v]) => [
    k,
    formatSeconds(v),
  ]);
  for (const m of summary.methods ?? []) {
    for (const [k, v] of Object.entries(m.timings ?? {})) rows.push([`${m.method}: ${k}`, formatSeconds(v)]);
    if (m.metrics.predict_seconds !== undefined && !(m.timings && 'predict' in m.timings)) {
      rows.push([`${m.method}: predict`, formatSeconds(m.metrics.predict_seconds)]);
    }
  }
  return rows.length > 0 ? keyValueTable(rows) : notRecorded('timings');
}

interface MetricColumn {
  readonly header: string;
  readonly value: (m: MethodSummary) => number | null | undefined;
  readonly format: (v: number | null | undefined) => string;
  /** Which direction is better, for marking the best method. */
  readonly better?: 'higher' | 'lower';
}

const METRIC_COLUMNS: readonly MetricColumn[] = [
  {
    header: 'accuracy',
    value: (m) => m.metrics.accuracy,
    format: (v) => formatPercent(v, 2),
    better: 'higher',
  },
  { header: 'NLL', value: (m) => m.metrics.nll, format: (v) => formatNumber(v, 4), better: 'lower' },
  { header: 'ECE', value: (m) => m.metrics.ece, format: (v) => formatPercent(v, 2), better: 'lower' },
  { header: 'Brier', value: (m) => m.metrics.brier, format: (v) => formatNumber(v, 4), better: 'lower' },
  {
    header: 'AUROC max-p',
    value: (m) => m.metrics.ood?.auroc_maxprob,
    format: (v) => formatNumber(v, 3),
    better: 'higher',
  },
  {
    header: 'AUROC entropy',
    value: (m) => m.metrics.ood?.auroc_entropy,
    format: (v) => formatNumber(v, 3),
    better: 'higher',
  },
  {
    header: 'AUROC MI',
    value: (m) => m.metrics.ood?.auroc_mi,
    format: (v) => formatNumber(v, 3),
    better: 'higher',
  },
  {
    header: 'FPR@95 max-p',
    value: (m) => m.metrics.ood?.fpr95_maxprob,
    format: (v) => formatPercent(v, 1),
    better: 'lower',
  },
  {
    header: 'FPR@95 entropy',
    value: (m) => m.metrics.ood?.fpr95_entropy,
    format: (v) => formatPercent(v, 1),
    better: 'lower',
  },
  { header: 'samples', value: (m) => m.metrics.numSamples, format: (v) => (v ? String(v) : '—') },
  { header: 'n', value: (m) => m.metrics.n, format: (v) => (typeof v === 'number' ? formatCount(v) : '—') },
];

function metricsSection(summary: RunSummary): string {
  const methods = summary.methods ?? [];
  if (methods.length === 0) return notRecorded('test-set metrics');
  // Drop OOD columns nobody has.
  const columns = METRIC_COLUMNS.filter((c) => methods.some((m) => isFiniteNumber(c.value(m))));
  const best = columns.map((c) => {
    if (!c.better || methods.length < 2) return undefined;
    const values = methods.map(c.value).filter(isFiniteNumber);
    return values.length > 1
      ? c.better === 'higher'
        ? Math.max(...values)
        : Math.min(...values)
      : undefined;
  });
  const rows = methods.map((m) => [
    escapeHtml(m.method),
    ...columns.map((c, j) => {
      const v = c.value(m);
      const text = escapeHtml(c.format(v));
      return best[j] !== undefined && v === best[j] ? `<strong>${text}</strong>` : text;
    }),
  ]);
  const bins = methods.find((m) => m.metrics.bins !== undefined)?.metrics.bins;
  const legend =
    `<p class="legend">ECE with ${bins ?? 'equal-width'} bins; NLL in nats; best value per column in bold. OOD detection ` +
    'treats the test set as positive (AUROC is the same with OOD positive); FPR@95 is the fraction of OOD examples ' +
    'accepted when 95% of test examples are.</p>';
  return htmlTable(['method', ...columns.map((c) => escapeHtml(c.header))], rows, 'metrics') + legend;
}

function isFiniteNumber(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function compressionSection(summary: RunSummary): string {
  const c = summary.compression;
  if (!c || c.layers.length === 0) return notRecorded('compression');
  const hasUnits = c.layers.some((l) => l.units !== undefined);
  const hasBits = c.layers.some((l) => l.bits !== undefined);
  const header = [
    'layer',
    'weights',
    'kept',
    'sparsity',
    ...(hasUnits ? ['kept units'] : []),
    ...(hasBits ? ['bits'] : []),
  ];
  const rows = c.layers.map((l) => [
    escapeHtml(l.name),
    formatCount(l.weights),
    formatCount(l.kept),
    formatPercent(rowSparsity(l), 1),
    ...(hasUnits
      ? [l.units !== undefined ? `${formatCount(l.keptUnits ?? l.units)} / ${formatCount(l.units)}` : '—']
      : []),
    ...(hasBits ? [l.bits !== undefined ? formatNumber(l.bits, l.bits % 1 === 0 ? 0 : 1) : '—'] : []),
  ]);
  const t = reportCompressionTotals(c);
  rows.push([
    '<strong>total</strong>',
    formatCount(t.weights),
    formatCount(t.kept),
    formatPercent(t.sparsity, 1),
    ...(hasUnits ? [''] : []),
    ...(hasBits ? [''] : []),
  ]);
  const facts: [string, string][] = [['compression |W| / |W≠0|', `${formatNumber(t.ratio, 1)}×`]];
  if (t.bitRatio !== undefined)
    facts.push(['compression in bits (32·|W| / Σ kept·bits)', `${formatNumber(t.bitRatio, 1)}×`]);
  for (const [k, v] of Object.entries(c.bytes ?? {})) facts.push([`size: ${k}`, `${formatCount(v)} bytes`]);
  for (const [k, v] of Object.entries(c.accuracy ?? {})) facts.push([`accuracy ${k}`, formatPercent(v, 2)]);
  return htmlTable(header, rows, 'compression') + keyValueTable(facts);
}

function plotsSection(figures: readonly ReportFigure[]): string {
  if (figures.length === 0) return notRecorded('plot data');
  return figures
    .map((f) => {
      const body = f.chart
        ? inlineSvg(f.chart.svg, `svg-${f.id}`)
        : `<p class="plot-error">This plot could not be drawn: ${escapeHtml(f.error ?? 'unknown error')}</p>`;
      return `<figure class="plot" id="plot-${f.id}" data-plot="${f.id}">${body}<figcaption>${escapeHtml(f.caption)}</figcaption></figure>`;
    })
    .join('\n');
}

const STYLE = `
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif; margin: 0 auto; max-width: 1100px;
  padding: 1.5rem; color: #222; background: #fff; line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 2rem; }
.meta { color: #666; font-size: 0.9rem; }
nav a { margin-right: 0.8rem; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f5f5f5; }
td:first-child, th:first-child, table.kv td { text-align: left; }
table.kv th { text-align: left; font-weight: normal; }
.missing, .legend { color: #777; font-size: 0.85rem; }
.plot-error { color: #a00; }
figure.plot { display: inline-block; vertical-align: top; margin: 0.8rem 1rem 0.8rem 0; max-width: 100%; }
figure.plot svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.85rem; margin-top: 0.3rem; }
code { font-size: 0.85rem; }
`;

/** Throws unless the summary carries what every report needs (a backend name, a configuration object). */
export function validateRunSummary(summary: RunSummary): void {
  if (typeof summary?.backend?.name !== 'string' || summary.backend.name.length === 0) {
    throw new BayescompError('bad-config', 'run summary has no backend name');
  }
  if (summary.config === null || typeof summary.config !== 'object' || Array.isArray(summary.config)) {
    throw new BayescompError('bad-config', 'run summary has no configuration object');
  }
}

/** The complete report page for a summary and its drawn figures. */
export function renderReportHtml(summary: RunSummary, figures: readonly ReportFigure[]): string {
  validateRunSummary(summary);
  const title = summary.title ?? 'bayescomp run';
  const meta = [
    summary.runDir ? `run directory <code>${escapeHtml(summary.runDir)}</code>` : '',
    summary.createdAt ? `created ${escapeHtml(summary.createdAt)}` : '',
    `backend ${escapeHtml(summary.backend.description ?? summary.backend.name)}`,
  ].filter(Boolean);
  const sections: Record<(typeof REPORT_SECTIONS)[number], [string, string]> = {
    configuration: ['Configuration', configurationSection(summary)],
    backend: ['Backend', backendSection(summary)],
    versions: ['Versions', versionsSection(summary)],
    timings: ['Timings', timingsSection(summary)],
    metrics: ['Metrics', metricsSection(summary)],
    compression: ['Compression', compressionSection(summary)],
    plots: ['Plots', plotsSection(figures)],
  };
  const nav = REPORT_SECTIONS.map((id) => `<a href="#${id}">${sections[id][0]}</a>`).join('');
  const body = REPORT_SECTIONS.map(
    (id) => `<section id="${id}">\n<h2>${sections[id][0]}</h2>\n${sections[id][1]}\n</section>`,
  ).join('\n');
  const notes =
    summary.notes && summary.notes.length > 0
      ? `<section id="notes"><h2>Notes</h2><ul>${summary.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul></section>`
      : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${escapeHtml(title)}</h1>
<p class="meta">${meta.join(' · ')}</p>
<nav>${nav}</nav>
</header>
<main>
${body}
${notes}
</main>
</body>
</html>
`;
}

/** File names {@link writeReport} writes in the run directory. */
export const REPORT_FILE = 'report.html';
export const SUMMARY_FILE = 'summary.json';

/** Options for {@link writeReport}. */
export interface WriteReportOptions {
  /** Also write each figure as `plots/<id>.png` (and `.svg`). Default false. */
  readonly png?: boolean;
}

/** What {@link writeReport} wrote. */
export interface WrittenReport {
  readonly reportPath: string;
  readonly summaryPath: string;
  /** Figure ids in the report. */
  readonly figures: string[];
  /** Files of figures written besides the report (with `png`). */
  readonly plotFiles: string[];
  /** Figures that could not be drawn, with why. */
  readonly failedFigures: { id: string; error: string }[];
}

/**
 * Writes `summary.json` and a self-contained `report.html` (and, with `png`, each figure as PNG and SVG under
 * `plots/`) into `runDir`, each file atomically; the report is written last, so its presence means the set is whole.
 */
export async function writeReport(
  runDir: string,
  summary: RunSummary,
  options: WriteReportOptions = {},
): Promise<WrittenReport> {
  validateRunSummary(summary);
  const figures = await renderReportFigures(summary);
  const html = renderReportHtml(summary, figures);
  const files: [string, string | Uint8Array][] = [];
  const plotFiles: string[] = [];
  const failedFigures = figures
    .filter((f) => f.error !== undefined)
    .map((f) => ({ id: f.id, error: f.error as string }));
  if (options.png) {
    for (const f of figures) {
      if (!f.chart) continue;
      files.push([`plots/${f.id}.svg`, f.chart.svg]);
      plotFiles.push(`plots/${f.id}.svg`);
      try {
        // PNGs are extras: the HTML report stands without them, so a rasteriser failure only loses the PNG.
        files.push([`plots/${f.id}.png`, await svgToPng(f.chart.svg)]);
        plotFiles.push(`plots/${f.id}.png`);
      } catch (err) {
        failedFigures.push({ id: `${f.id}.png`, error: err instanceof Error ? err.message : String(err) });
      }
    }
  }
  files.push([SUMMARY_FILE, JSON.stringify(summary, null, 2) + '\n'], [REPORT_FILE, html]);
  await writeFilesAtomic(runDir, files);
  const join = (name: string) => `${runDir.replace(/[\\/]+$/, '')}/${name}`;
  return {
    reportPath: join(REPORT_FILE),
    summaryPath: join(SUMMARY_FILE),
    figures: figures.map((f) => f.id),
    plotFiles: plotFiles.map(join),
    failedFigures,
  };
}
