/**
 * The HTML report (`writeReport`, src/report/html-report.ts) rendered by headless Chromium from a `file://` URL: it
 * must load without console errors or network requests, and every plot must be an inline `<svg>` laid out with a
 * non-zero size and drawn marks. Fails (does not skip) when Chromium is missing, unless
 * BAYESCOMP_SKIP_BROWSER_TESTS=1.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORT_SECTIONS, writeReport } from '../../src/report/html-report.js';
import { type Histogram, histogramOf } from '../../src/report/histogram.js';
import type { MethodSummary, RunSummary } from '../../src/report/run-summary.js';
import { pngSize } from '../../src/report/svg-inspect.js';
import { Random } from '../../src/runtime/random.js';
import {
  type HeadlessBrowser,
  browserSuiteTitle,
  browserTestsSkipped,
  launchChromium,
  requireChromium,
} from './chromium.js';

/** Histogram of `n` draws of `draw` on [min, max]. */
function histogram(n: number, draw: () => number, min: number, max: number): Histogram {
  return histogramOf(Array.from({ length: n }, draw), { bins: 15, min, max });
}

/** A method as the CLI would summarise it, with scores drawn from simple distributions. */
function method(name: string, random: Random, withMi: boolean): MethodSummary {
  const clip = (v: number) => Math.min(1, Math.max(0, v));
  const reliability = Array.from({ length: 10 }, (_, b) => ({
    lower: b / 10,
    upper: (b + 1) / 10,
    count: b < 2 ? 0 : 10 * b,
    confidence: b < 2 ? null : (b + 0.5) / 10,
    accuracy: b < 2 ? null : clip((b + 0.5) / 10 - 0.05 + 0.02 * random.normal()),
  }));
  const maxEntropy = Math.log(10);
  return {
    method: name,
    metrics: {
      accuracy: 0.85 + 0.02 * random.uniform(),
      nll: 0.4 + 0.1 * random.uniform(),
      ece: 0.03,
      brier: 0.22,
      n: 1000,
      bins: 10,
      ...(withMi ? { numSamples: 30, mean_mi: 0.05 } : {}),
      ood: {
        auroc_maxprob: 0.8,
        auroc_entropy: 0.82,
        ...(withMi ? { auroc_mi: 0.85 } : {}),
        n_in: 1000,
        n_out: 1000,
      },
      reliability,
    },
    histograms: {
      confidence: {
        inDistribution: histogram(500, () => clip(1 - Math.abs(0.15 * random.normal())), 0, 1),
        outOfDistribution: histogram(500, () => clip(0.6 + 0.2 * random.normal()), 0, 1),
      },
      entropy: {
        inDistribution: histogram(
          500,
          () => maxEntropy * clip(Math.abs(0.15 * random.normal())),
          0,
          maxEntropy,
        ),
        outOfDistribution: histogram(
          500,
          () => maxEntropy * clip(0.5 + 0.2 * random.normal()),
          0,
          maxEntropy,
        ),
      },
      ...(withMi
        ? {
            mutualInformation: {
              inDistribution: histogram(500, () => 0.1 * random.uniform(), 0, maxEntropy),
              outOfDistribution: histogram(500, () => 0.4 * random.uniform(), 0, maxEntropy),
            },
          }
        : {}),
    },
  };
}

/** A small run summary with data for every kind of plot the report draws. */
function syntheticSummary(): RunSummary {
  const random = new Random(11);
  return {
    schemaVersion: 1,
    title: 'Synthetic run for the browser test',
    createdAt: '2026-11-22T07:00:00Z',
    seed: 11,
    config: { model: 'lenet300', method: 'sparse-vd', epochs: 4 },
    datasets: { train: 'fashion-mnist-subset', ood: 'mnist-subset' },
    backend: { name: 'wasm', description: 'wasm (SIMD, 1 thread) on tfjs 4.22.0', simd: true, threads: 1 },
    versions: { bayescomp: '0.1.0', tfjs: '4.22.0' },
    timings: { train: 12.5, evaluate: 0.8 },
    methods: [method('MAP', random, false), method('Sparse VD', random, true)],
    compression: {
      layers: [
        { name: 'dense_1', weights: 235200, kept: 6586, units: 784, keptUnits: 402, bits: 7 },
        { name: 'dense_2', weights: 30000, kept: 1080, units: 300, keptUnits: 62, bits: 6 },
        { name: 'dense_3', weights: 1000, kept: 321, bits: 8 },
      ],
      bytes: { 'dense float32': 1066504, compact: 40211 },
      accuracy: { 'before pruning': 0.884, 'after pruning': 0.883 },
    },
    history: Array.from({ length: 4 }, (_, epoch) => ({
      epoch,
      loss: 1 / (epoch + 1),
      terms: { data: 0.5 / (epoch + 1), kl: 100 - 10 * epoch, beta: epoch / 3 },
      validation: { accuracy: 0.7 + 0.05 * epoch },
      metrics: { sparsity: 0.2 * epoch },
    })),
    posterior: {
      logAlpha: [{ layer: 'dense_1', histogram: histogram(400, () => 20 * random.uniform() - 10, -10, 10) }],
      snr: [{ layer: 'dense_1', histogram: histogram(400, () => 5 * random.uniform(), 0, 5) }],
      snrThreshold: 1,
    },
    accuracyVsCompression: [
      { compression: 1, accuracy: 0.89 },
      { compression: 12, accuracy: 0.885 },
      { compression: 30, accuracy: 0.87 },
    ],
    weightImages: [
      {
        layer: 'dense_3',
        mode: 'mask',
        rows: 20,
        cols: 25,
        values: Array.from({ length: 500 }, () => (random.uniform() < 0.3 ? 1 : 0)),
      },
    ],
  };
}

/** What the page's layout says about one plot. */
interface PlotLayout {
  readonly id: string;
  readonly svgCount: number;
  readonly width: number;
  readonly height: number;
  readonly marks: number;
  readonly error: boolean;
}

describe.skipIf(browserTestsSkipped())(browserSuiteTitle('HTML report in headless Chromium'), () => {
  let dir: string | undefined;
  let browser: HeadlessBrowser | undefined;

  beforeAll(async () => {
    requireChromium();
    dir = await mkdtemp(join(tmpdir(), 'bayescomp-report-browser-'));
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('renders every section and every plot with a non-zero size, offline and without console errors', async () => {
    const written = await writeReport(dir!, syntheticSummary());
    expect(written.failedFigures).toEqual([]);
    // Reliability, confidence and entropy per method (+ MI for Sparse VD), training curves, sparsity, log α, SNR,
    // accuracy vs compression, one weight image.
    expect(written.figures.length).toBe(3 + 4 + 6);

    const { page, errors } = await browser!.newPage();
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    const url = pathToFileURL(written.reportPath).href;
    await page.goto(url, { waitUntil: 'load' });
    // Nothing but the report itself (and data: URLs) may be loaded: the report is self-contained.
    expect(requests.filter((r) => r !== url && !r.startsWith('data:'))).toEqual([]);

    for (const id of REPORT_SECTIONS) expect(await page.locator(`section#${id}`).isVisible()).toBe(true);
    const plots: PlotLayout[] = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('figure.plot')].map((figure) => {
        const svgs = figure.querySelectorAll('svg');
        const box = svgs[0]?.getBoundingClientRect();
        return {
          id: figure.dataset.plot ?? '',
          svgCount: svgs.length,
          width: box?.width ?? 0,
          height: box?.height ?? 0,
          marks: svgs[0]?.querySelectorAll('path, rect, line, image, text').length ?? 0,
          error: figure.querySelector('.plot-error') !== null,
        };
      }),
    );
    expect(plots.map((p) => p.id)).toEqual(written.figures);
    for (const plot of plots) {
      expect(plot, plot.id).toMatchObject({ svgCount: 1, error: false });
      expect(plot.width, `${plot.id} width`).toBeGreaterThan(50);
      expect(plot.height, `${plot.id} height`).toBeGreaterThan(50);
      expect(plot.marks, `${plot.id} marks`).toBeGreaterThan(5);
    }

    const file = join(tmpdir(), 'bayescomp-browser-report.png');
    await page.screenshot({ path: file, fullPage: true });
    const png = new Uint8Array(await readFile(file));
    const size = pngSize(png);
    expect(size.width).toBeGreaterThan(600);
    expect(size.height).toBeGreaterThan(1000);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
