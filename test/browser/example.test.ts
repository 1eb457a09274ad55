/**
 * The browser example (`examples/browser/`) built with Vite, served on 127.0.0.1 and driven in headless Chromium:
 * its predictions must be probability vectors, agree with the same models run in Node by the library, report the
 * backend in use, and raise no console errors. Fails (does not skip) when Chromium is missing, unless
 * BAYESCOMP_SKIP_BROWSER_TESTS=1.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SampleFile, SampleImage } from '../../examples/browser/src/samples.js';
import { MC_SAMPLES, toInput } from '../../examples/browser/src/samples.js';
import { loadModel } from '../../src/models/file-io.js';
import { pngSize } from '../../src/report/svg-inspect.js';
import { initBackend } from '../../src/runtime/backend.js';
import { Random } from '../../src/runtime/random.js';
import '../../src/variational/bayesianDense.js';
import { predictMonteCarlo } from '../../src/variational/prediction.js';
import {
  type HeadlessBrowser,
  type StaticServer,
  browserSuiteTitle,
  browserTestsSkipped,
  launchChromium,
  requireChromium,
  serveDirectory,
} from './chromium.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE = join(ROOT, 'examples', 'browser');
const PUBLIC = join(EXAMPLE, 'public');

function argMax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** Largest minus second-largest value. */
function margin(values: ArrayLike<number>): number {
  const sorted = Array.from(values).sort((a, b) => b - a);
  return sorted[0] - sorted[1];
}

/** What the page shows after a prediction. */
interface Shown {
  readonly probs: number[];
  readonly predictedClass: number;
  readonly entropy: number;
  readonly expectedEntropy?: number;
  readonly mutualInformation?: number;
}

async function readShown(page: Page): Promise<Shown> {
  return page.evaluate(() => {
    const number = (value: string | undefined): number | undefined =>
      value === undefined ? undefined : Number(value);
    const bars = [...document.querySelectorAll<SVGGElement>('#bars g.bar')];
    const list = document.getElementById('uncertainty') as HTMLElement;
    return {
      probs: bars.map((g) => Number(g.dataset.prob)),
      predictedClass: Number((document.getElementById('predicted') as HTMLElement).dataset.class),
      entropy: Number(list.dataset.entropy),
      expectedEntropy: number(list.dataset.expectedEntropy),
      mutualInformation: number(list.dataset.mutualInformation),
    };
  });
}

/** Waits until the page has shown a prediction for `sample` with `model`. */
async function waitForPrediction(page: Page, sample: string, model: string): Promise<void> {
  await page.waitForFunction(
    ([s, m]) => {
      const result = document.getElementById('result');
      if (result?.dataset.state === 'error')
        throw new Error(document.getElementById('status')?.textContent ?? '');
      return result?.dataset.state === 'done' && result.dataset.sample === s && result.dataset.model === m;
    },
    [sample, model],
    { timeout: 30_000 },
  );
}

async function openPage(browser: HeadlessBrowser, url: string): Promise<{ page: Page; errors: string[] }> {
  const opened = await browser.newPage();
  await opened.page.goto(url);
  await opened.page.waitForFunction(
    () => {
      const status = document.getElementById('status');
      if (status?.dataset.state === 'error') throw new Error(status.textContent ?? 'page error');
      return document.body.dataset.ready === 'true';
    },
    undefined,
    { timeout: 30_000 },
  );
  return opened;
}

describe.skipIf(browserTestsSkipped())(browserSuiteTitle('browser example in headless Chromium'), () => {
  let outDir: string | undefined;
  let server: StaticServer | undefined;
  let browser: HeadlessBrowser | undefined;
  let samples: SampleFile;
  let mapModel: tf.LayersModel;
  let bayesModel: tf.LayersModel;

  beforeAll(async () => {
    requireChromium();
    await initBackend();
    samples = JSON.parse(await readFile(join(PUBLIC, 'samples.json'), 'utf8')) as SampleFile;
    mapModel = await loadModel(join(PUBLIC, 'model'));
    bayesModel = await loadModel(join(PUBLIC, 'model-sparse-vd'));
    outDir = await mkdtemp(join(tmpdir(), 'bayescomp-example-'));
    await build({
      configFile: join(EXAMPLE, 'vite.config.ts'),
      logLevel: 'silent',
      build: { outDir, emptyOutDir: true, minify: false, reportCompressedSize: false },
    });
    server = await serveDirectory(outDir);
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (outDir) await rm(outDir, { recursive: true, force: true });
    mapModel?.dispose();
    bayesModel?.dispose();
  });

  function input(sample: SampleImage): tf.Tensor4D {
    return tf.tensor4d(toInput(sample.pixels), [1, ...samples.shape]);
  }

  function nodeMapProbs(sample: SampleImage): Float32Array {
    return tf.tidy(
      () => tf.softmax(mapModel.predict(input(sample)) as tf.Tensor2D).dataSync() as Float32Array,
    );
  }

  /** The Sparse VD Monte-Carlo predictive in Node, with more samples than the page so its argmax is stable. */
  function nodeMonteCarloProbs(sample: SampleImage, passes: number): Float32Array {
    const x = input(sample);
    const { probs } = predictMonteCarlo(bayesModel, x, { samples: passes, random: new Random(5) });
    const values = probs.dataSync() as Float32Array;
    tf.dispose([x, probs]);
    return values;
  }

  /** The in-distribution sample the MAP model is most decided about (so backends cannot disagree on it). */
  function clearestSample(): SampleImage {
    const candidates = samples.samples.filter((s) => !s.ood);
    return candidates.reduce((best, s) => (margin(nodeMapProbs(s)) > margin(nodeMapProbs(best)) ? s : best));
  }

  it('classifies a chosen image like the library in Node, on the default backend, without console errors', async () => {
    const { page, errors } = await openPage(browser!, server!.url);
    const backend = await page.getAttribute('#backend', 'data-backend');
    expect(['webgl', 'wasm', 'cpu']).toContain(backend);
    expect(await page.textContent('#backend')).toMatch(/^(webgl|wasm|cpu)\b.* on tfjs \d+\.\d+/);

    const sample = clearestSample();
    const expected = nodeMapProbs(sample);
    expect(margin(expected)).toBeGreaterThan(0.2);
    await page.click(`#gallery button[data-id="${sample.id}"]`);
    await waitForPrediction(page, sample.id, 'map');
    const map = await readShown(page);
    expect(map.probs).toHaveLength(samples.classNames.length);
    expect(map.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
    expect(map.predictedClass).toBe(argMax(expected));
    expect(argMax(map.probs)).toBe(argMax(expected));
    // webgl computes in float32 too (or float16 on weak GPUs): the softmax agrees to well below the display precision.
    map.probs.forEach((p, k) => expect(Math.abs(p - expected[k])).toBeLessThan(2e-3));
    const entropy = -map.probs.reduce((h, p) => (p > 0 ? h + p * Math.log(p) : h), 0);
    expect(map.entropy).toBeCloseTo(entropy, 6);
    expect(map.mutualInformation).toBeUndefined();

    // The Bayesian model: a Monte-Carlo predictive with its decomposition H[p̄] = E H[p_s] + I.
    const mc = nodeMonteCarloProbs(sample, 300);
    expect(margin(mc)).toBeGreaterThan(0.2);
    await page.check('input[name="model"][value="sparse-vd"]');
    await waitForPrediction(page, sample.id, 'sparse-vd');
    const bayes = await readShown(page);
    expect(bayes.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
    expect(bayes.predictedClass).toBe(argMax(mc));
    // 100 browser passes vs 300 Node passes of a posterior whose per-pass spread is small (the model is 97% pruned).
    bayes.probs.forEach((p, k) => expect(Math.abs(p - mc[k])).toBeLessThan(0.05));
    expect(bayes.mutualInformation).toBeGreaterThanOrEqual(0);
    expect(bayes.expectedEntropy).toBeGreaterThan(0);
    expect(bayes.entropy).toBeCloseTo(bayes.expectedEntropy! + bayes.mutualInformation!, 6);
    expect(await page.textContent('#u-samples')).toBe(String(MC_SAMPLES));

    // An out-of-distribution digit and a drawing are classified too.
    const digit = samples.samples.find((s) => s.ood)!;
    await page.click(`#gallery button[data-id="${digit.id}"]`);
    await waitForPrediction(page, digit.id, 'sparse-vd');
    const ood = await readShown(page);
    expect(ood.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
    const box = (await page.locator('#draw').boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.15);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.85, { steps: 8 });
    await page.mouse.up();
    await page.click('#classify-drawing');
    await waitForPrediction(page, 'drawing', 'sparse-vd');
    expect((await readShown(page)).probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);

    const file = join(tmpdir(), 'bayescomp-browser-example.png');
    await page.screenshot({ path: file, fullPage: true });
    const png = new Uint8Array(await readFile(file));
    const size = pngSize(png);
    expect(size.width).toBeGreaterThan(600);
    expect(size.height).toBeGreaterThan(400);
    expect(png.length).toBeGreaterThan(10_000);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);

  it('runs on the wasm backend when asked, with .wasm files served from the build and Node-equal results', async () => {
    const { page, errors } = await openPage(browser!, `${server!.url}?backend=wasm`);
    expect(await page.getAttribute('#backend', 'data-backend')).toBe('wasm');
    const sample = samples.samples[1];
    const expected = nodeMapProbs(sample);
    await page.click(`#gallery button[data-id="${sample.id}"]`);
    await waitForPrediction(page, sample.id, 'map');
    const shown = await readShown(page);
    expect(shown.predictedClass).toBe(argMax(expected));
    // Same backend, same kernels: only summation-order differences remain.
    shown.probs.forEach((p, k) => expect(p).toBeCloseTo(expected[k], 5));
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
