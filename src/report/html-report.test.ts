import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { evaluatePredictiveWithScores } from '../eval/evaluate.js';
import { deterministicPredictive, ensemblePredictive } from '../eval/predictive.js';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { REPORT_SECTIONS, renderReportHtml, writeReport } from './html-report.js';
import { renderReportFigures } from './report-figures.js';
import { histogramOf } from './histogram.js';
import { kernelImageMatrix } from './weight-image.js';
import { type RunSummary, methodSummaryFromEvaluation } from './run-summary.js';
import { parseXml, pngSize } from './svg-inspect.js';

let dir: string;
let summary: RunSummary;

function data(n: number, seed: number, shift = 0): Dataset {
  const random = new Random(seed);
  const x = random.fillNormal(new Float32Array(n * 4)).map((v) => v + shift);
  return { x, y: Int32Array.from({ length: n }, () => random.int(3)), n, featureShape: [4], numClasses: 3 };
}

const HOSTILE = '<script>alert("x")</script> & \'quotes\'';

beforeAll(async () => {
  const backend = await initBackend();
  dir = await mkdtemp(join(tmpdir(), 'bayescomp-report-'));
  const models = [1, 2].map((seed) =>
    tf.sequential({
      layers: [
        tf.layers.dense({
          units: 3,
          inputShape: [4],
          kernelInitializer: tf.initializers.glorotUniform({ seed }),
        }),
      ],
    }),
  );
  const test = data(60, 1);
  const ood = data(40, 2, 3);
  const map = await evaluatePredictiveWithScores(deterministicPredictive(models[0]), test, {
    oodData: ood,
    bins: 10,
  });
  const ens = await evaluatePredictiveWithScores(ensemblePredictive(models), test, {
    oodData: ood,
    bins: 10,
  });
  models.forEach((m) => m.dispose());
  const random = new Random(3);
  summary = {
    schemaVersion: 1,
    title: `Run ${HOSTILE}`,
    runDir: '/runs/demo',
    createdAt: '2026-11-22T07:00:00Z',
    command: `bayescomp train --model lenet300 --note "${HOSTILE}"`,
    seed: 7,
    config: {
      model: 'lenet300',
      method: 'sparse-vd',
      epochs: 3,
      lr: 0.001,
      nested: { beta: [0, 0.5, 1] },
      label: HOSTILE,
    },
    datasets: { train: 'synthetic', ood: 'shifted synthetic' },
    backend: { name: backend.name, description: `${backend.name} test backend`, simd: true, threads: 1 },
    versions: { bayescomp: '0.1.0', tfjs: tf.version_core, node: process.versions.node },
    timings: { train: 12.5, evaluate: 0.8 },
    methods: [
      methodSummaryFromEvaluation(map),
      methodSummaryFromEvaluation(ens, { timings: { train: 25 } }),
      // A method as read back from JSON, without OOD figures, NaN as null.
      {
        method: `Laplace ${HOSTILE}`,
        metrics: { accuracy: 0.5, nll: 1.1, ece: 0.02, brier: 0.6, n: 60, mean_entropy: null },
      },
    ],
    compression: {
      layers: [
        { name: 'dense_1', weights: 235200, kept: 6586, units: 784, keptUnits: 402, bits: 7 },
        { name: 'dense_2', weights: 30000, kept: 1080, units: 300, keptUnits: 62, bits: 6 },
        { name: `dense_3 ${HOSTILE}`, weights: 1000, kept: 321, bits: 8 },
      ],
      bytes: { 'dense float32': 1066504, compact: 40211 },
      accuracy: { 'before pruning': 0.884, 'after pruning': 0.883 },
    },
    history: Array.from({ length: 4 }, (_, epoch) => ({
      epoch,
      loss: 1 / (epoch + 1),
      terms: { data: 0.5 / (epoch + 1), kl: 100 - epoch, beta: epoch / 3 },
      validation: { accuracy: 0.7 + 0.05 * epoch },
      metrics: { sparsity: 0.2 * epoch },
    })),
    posterior: {
      logAlpha: [
        {
          layer: 'dense_1',
          histogram: histogramOf(
            Array.from({ length: 500 }, () => 20 * random.uniform() - 10),
            { bins: 20, min: -10, max: 10 },
          ),
        },
        {
          layer: 'dense_2',
          histogram: histogramOf(
            Array.from({ length: 500 }, () => 8 * random.uniform() - 4),
            { bins: 20, min: -10, max: 10 },
          ),
        },
      ],
      snr: [
        {
          layer: 'dense_1',
          histogram: histogramOf(
            Array.from({ length: 300 }, () => 5 * random.uniform()),
            { bins: 10 },
          ),
        },
      ],
      snrThreshold: 1,
    },
    accuracyVsCompression: [
      { compression: 1, accuracy: 0.89 },
      { compression: 12, accuracy: 0.885 },
      { compression: 30, accuracy: 0.87 },
    ],
    weightImages: [
      {
        layer: 'conv_1',
        mode: 'magnitude',
        rows: 20,
        cols: 25,
        values: Array.from({ length: 500 }, () => random.normal()),
      },
      {
        layer: 'conv_1',
        mode: 'mask',
        rows: 20,
        cols: 25,
        values: Array.from({ length: 500 }, () => (random.uniform() < 0.3 ? 1 : 0)),
      },
      // A tiled Conv2D kernel: NaN gaps, which JSON stores as null.
      {
        layer: 'conv_2',
        ...kernelImageMatrix(
          [3, 3, 2, 4],
          Array.from({ length: 72 }, () => random.normal()),
        ),
        rowTitle: 'filter',
        colTitle: 'input channel',
      },
    ],
    notes: [`remember ${HOSTILE}`],
  };
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every inline `<svg …>…</svg>` of an HTML page. */
function inlineSvgs(html: string): string[] {
  return [...html.matchAll(/<svg[\s>][\s\S]*?<\/svg>/g)].map((m) => m[0]);
}

describe('HTML report', () => {
  it('writes report.html and summary.json with every section and every plot inline', async () => {
    const written = await writeReport(dir, summary);
    expect(written.failedFigures).toEqual([]);
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    for (const id of REPORT_SECTIONS) expect(html).toContain(`<section id="${id}">`);
    expect(html).toContain('<section id="notes">');

    // Reliability + confidence + entropy for MAP; the same plus mutual information for the ensemble; training
    // curves, sparsity, log α, SNR, accuracy vs compression, two weight images.
    const expectedFigures = [
      'reliability-map',
      'confidence-map',
      'entropy-map',
      'reliability-ensemble-m-2',
      'confidence-ensemble-m-2',
      'entropy-ensemble-m-2',
      'mutual-information-ensemble-m-2',
      'training-curves',
      'sparsity',
      'log-alpha',
      'snr',
      'accuracy-vs-compression',
      'weights-conv-1-magnitude',
      'weights-conv-1-mask',
      'weights-conv-2-magnitude',
    ];
    expect(written.figures).toEqual(expectedFigures);
    const svgs = inlineSvgs(html);
    expect(svgs).toHaveLength(expectedFigures.length);
    for (const id of expectedFigures) {
      const figure = html.match(
        new RegExp(`<figure class="plot" id="plot-${id}" data-plot="${id}"><svg[\\s\\S]*?</figure>`),
      );
      expect(figure, id).not.toBeNull();
    }
    for (const svg of svgs) expect(parseXml(svg).name).toBe('svg');

    const summaryJson = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'));
    expect(summaryJson).toEqual(JSON.parse(JSON.stringify(summary)));
    expect(summaryJson.backend.name).toBe(summary.backend.name);
  });

  it('is self-contained: no scripts, no external resources, no URLs at all', async () => {
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/@import|<link|<img|<iframe|<object|<embed/i);
    // url() only for in-page gradients and clip paths.
    for (const m of html.matchAll(/url\(([^)]*)\)/g)) expect(m[1]).toMatch(/^#svg-/);
    expect(html).not.toMatch(/https?:\/\//);
    // In-page links only, and element ids unique across the page (gradients of different figures do not clash).
    for (const m of html.matchAll(/href="([^"]*)"/g)) expect(m[1].startsWith('#')).toBe(true);
    const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.some((id) => id.startsWith('svg-weights-conv-1-mask-'))).toBe(true);
  });

  it('escapes every user-provided string', async () => {
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('alert("x")');
    const escaped = '&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;quotes&#39;';
    expect(html).toContain(`<title>Run ${escaped}</title>`);
    expect(html).toContain(`Laplace ${escaped}`);
    expect(html).toContain(`dense_3 ${escaped}`);
    expect(html).toContain(`remember ${escaped}`);
    expect(html).toContain(`--note &#34;${escaped}&#34;`);
  });

  it('shows metrics side by side and the compression totals', async () => {
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    const metrics = html.slice(
      html.indexOf('<section id="metrics">'),
      html.indexOf('<section id="compression">'),
    );
    expect(metrics).toContain('<td>MAP</td>');
    expect(metrics).toContain('<td>ensemble (M=2)</td>');
    expect(metrics).toContain('AUROC max-p');
    expect(metrics).toContain('AUROC MI');
    const ens = summary.methods?.[1].metrics;
    expect(metrics).toContain(`${(100 * (ens?.accuracy ?? 0)).toFixed(2)}%`);
    const compression = html.slice(
      html.indexOf('<section id="compression">'),
      html.indexOf('<section id="plots">'),
    );
    // 266200 weights, 7987 kept: 97.0% sparsity, 33.3×; bits: 32·266200 / (6586·7 + 1080·6 + 321·8) = 8518400 / 55150 = 154.46×.
    expect(compression).toContain('266\u2009200');
    expect(compression).toContain('7\u2009987');
    expect(compression).toContain('97.0%');
    expect(compression).toContain('33.3×');
    expect(compression).toContain('154.5×');
    expect(compression).toContain('402 / 784');
  });

  it('is rebuilt identically from summary.json alone', async () => {
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    const loaded = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as RunSummary;
    expect(renderReportHtml(loaded, await renderReportFigures(loaded))).toBe(html);
  });

  it('marks missing sections and requires a backend name', async () => {
    const minimal: RunSummary = { schemaVersion: 1, config: {}, backend: { name: 'cpu' } };
    const html = renderReportHtml(minimal, await renderReportFigures(minimal));
    for (const id of REPORT_SECTIONS) expect(html).toContain(`<section id="${id}">`);
    expect(html).toContain('No compression recorded');
    expect(html).toContain('No plot data recorded');
    const noBackend = { schemaVersion: 1, config: {}, backend: {} } as unknown as RunSummary;
    await expect(writeReport(dir, noBackend)).rejects.toThrow(/backend name/);
  });

  it('writes each figure as PNG and SVG on request', async () => {
    const small: RunSummary = {
      schemaVersion: 1,
      config: { a: 1 },
      backend: { name: 'cpu' },
      compression: { layers: [{ name: 'fc', weights: 100, kept: 10 }] },
    };
    const pngDir = join(dir, 'png-run');
    const written = await writeReport(pngDir, small, { png: true });
    expect(written.figures).toEqual(['sparsity']);
    expect((await readdir(join(pngDir, 'plots'))).sort()).toEqual(['sparsity.png', 'sparsity.svg']);
    const png = new Uint8Array(await readFile(join(pngDir, 'plots', 'sparsity.png')));
    const svg = await readFile(join(pngDir, 'plots', 'sparsity.svg'), 'utf8');
    const root = parseXml(svg);
    expect(pngSize(png)).toEqual({
      width: 2 * Number(root.attributes.width),
      height: 2 * Number(root.attributes.height),
    });
  });
});
