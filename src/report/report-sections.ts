/** The HTML of each report section, from a {@link RunSummary}. */
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
import type { ReportFigure } from './report-figures.js';
import {
  type JsonValue,
  type MethodSummary,
  type RunSummary,
  reportCompressionTotals,
  rowSparsity,
} from './run-summary.js';

function jsonText(value: JsonValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function notRecorded(what: string): string {
  return `<p class="missing">No ${escapeHtml(what)} recorded for this run.</p>`;
}

export function configurationSection(summary: RunSummary): string {
  const entries: [string, string][] = Object.entries(summary.config).map(([k, v]) => [k, jsonText(v)]);
  if (summary.seed !== undefined) entries.unshift(['seed', String(summary.seed)]);
  for (const [k, v] of Object.entries(summary.datasets ?? {})) entries.push([`data: ${k}`, v]);
  const command = summary.command ? `<p>Command: <code>${escapeHtml(summary.command)}</code></p>` : '';
  return command + (entries.length > 0 ? keyValueTable(entries) : notRecorded('configuration'));
}

export function backendSection(summary: RunSummary): string {
  const b = summary.backend;
  const entries: [string, string][] = [['name', b.name]];
  if (b.description) entries.push(['description', b.description]);
  if (b.tfjsVersion) entries.push(['TF.js', b.tfjsVersion]);
  if (b.simd !== undefined) entries.push(['SIMD', b.simd ? 'yes' : 'no']);
  if (b.threads !== undefined) entries.push(['threads', String(b.threads)]);
  return keyValueTable(entries);
}

export function versionsSection(summary: RunSummary): string {
  const entries = Object.entries(summary.versions ?? {});
  return entries.length > 0 ? keyValueTable(entries) : notRecorded('versions');
}

export function timingsSection(summary: RunSummary): string {
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

export function metricsSection(summary: RunSummary): string {
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

export function compressionSection(summary: RunSummary): string {
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

export function plotsSection(figures: readonly ReportFigure[]): string {
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
