/**
 * `bayescomp demo` end to end (shortened epochs): it finishes offline on the embedded data and leaves a report that
 * headless Chromium renders without console errors, every plot an inline SVG with a size and drawn marks.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCliCaptured } from '../../src/cli/test-utils.js';
import { pngSize } from '../../src/report/svg-inspect.js';
import { browserSuiteTitle, browserTestsSkipped, launchChromium, requireChromium } from './chromium.js';

describe.skipIf(browserTestsSkipped())(browserSuiteTitle('bayescomp demo'), () => {
  it('runs offline and leaves a report Chromium renders with every plot present', async () => {
    requireChromium();
    const out = await mkdtemp(join(tmpdir(), 'bayescomp-demo-'));
    const {
      code,
      out: stdout,
      err,
    } = await runCliCaptured(['demo', '--out', out, '--epochs', '1', '--vd-epochs', '1', '--json']);
    expect(err).not.toMatch(/internal error/);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as {
      methods: { method: string; accuracy: number; auroc: number }[];
      compression: { ratio: number; compactBytes: number; tfjsBytes: number };
      report: string;
    };
    expect(result.methods.map((m) => m.method)).toEqual(['MAP', 'Laplace (GLM, probit)', 'Sparse VD (S=20)']);
    for (const m of result.methods) expect(m.accuracy).toBeGreaterThan(0.6);
    expect(result.compression.ratio).toBeGreaterThan(1);
    expect(result.compression.compactBytes).toBeLessThan(result.compression.tfjsBytes);

    const browser = await launchChromium();
    try {
      const { page, errors } = await browser.newPage();
      await page.goto(pathToFileURL(result.report).href, { waitUntil: 'load' });
      const plots = await page.evaluate(() =>
        [...document.querySelectorAll<HTMLElement>('figure.plot')].map((figure) => {
          const svg = figure.querySelector('svg');
          const box = svg?.getBoundingClientRect();
          return {
            id: figure.dataset.plot ?? '',
            width: box?.width ?? 0,
            height: box?.height ?? 0,
            marks: svg?.querySelectorAll('path, rect, line, image, text').length ?? 0,
          };
        }),
      );
      // Reliability, confidence/entropy histograms, training curves, sparsity, log α, accuracy vs compression, masks.
      expect(plots.length).toBeGreaterThanOrEqual(8);
      for (const plot of plots) {
        expect(plot.width, plot.id).toBeGreaterThan(50);
        expect(plot.height, plot.id).toBeGreaterThan(50);
        expect(plot.marks, plot.id).toBeGreaterThan(5);
      }
      const shot = join(out, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(pngSize(new Uint8Array(await readFile(shot))).height).toBeGreaterThan(1000);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 600_000);
});
