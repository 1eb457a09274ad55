/**
 * Reports: headless charts (Vega-Lite → SVG, resvg → PNG), the {@link RunSummary} data a report is made of, and
 * the self-contained HTML report writer.
 */
export * from './plots.js';
export * from './run-summary.js';
export * from './report-figures.js';
export * from './html-report.js';
