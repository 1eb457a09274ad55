/**
 * The run report: one self-contained `report.html` (inline CSS and SVG, no scripts, no network requests) and the
 * `summary.json` it was made from.
 */
import { writeFilesAtomic } from '../util/atomic-write.js';
import { BayescompError } from '../util/errors.js';
import { escapeHtml } from './html.js';
import { svgToPng } from './render.js';
import { type ReportFigure, renderReportFigures } from './report-figures.js';
import {
  backendSection,
  compressionSection,
  configurationSection,
  metricsSection,
  plotsSection,
  timingsSection,
  versionsSection,
} from './report-sections.js';
import type { RunSummary } from './run-summary.js';

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
table.metrics td, table.compression td { white-space: nowrap; }
table.metrics td:first-child, table.compression td:first-child { white-space: normal; }
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
