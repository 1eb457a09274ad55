import { describe, expect, it } from 'vitest';
import {
  accuracyCompressionCurve,
  confidenceHistogram,
  downsampleMatrix,
  entropyHistogram,
  histogramChart,
  histogramOf,
  kernelImageMatrix,
  logAlphaHistogram,
  reliabilityDiagram,
  snrHistogram,
  sparsityBars,
  svgToPng,
  trainingCurves,
  weightMaskImage,
} from './plots.js';
import { allElements, countMarks, parseXml, pngSize } from './svg-inspect.js';

function svgSize(svg: string): { width: number; height: number } {
  const root = parseXml(svg);
  expect(root.name).toBe('svg');
  return { width: Number(root.attributes.width), height: Number(root.attributes.height) };
}

function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
}

describe('histogramOf', () => {
  it('counts into equal-width bins, clamping outliers into the end bins and skipping NaN', () => {
    const h = histogramOf([0, 0.1, 0.5, 0.99, 1, -3, 7, Number.NaN], { bins: 4, min: 0, max: 1 });
    expect(h.edges).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(h.counts).toEqual([3, 0, 1, 3]);
    const auto = histogramOf([2, 4, 6], { bins: 2 });
    expect(auto.edges).toEqual([2, 4, 6]);
    expect(auto.counts).toEqual([1, 2]);
  });
});

describe('charts', () => {
  it('reliability diagram: one accuracy bar, confidence point and count bar per non-empty bin, and the diagonal', async () => {
    const bins = [
      { lower: 0, upper: 0.25, count: 0, confidence: Number.NaN, accuracy: Number.NaN },
      { lower: 0.25, upper: 0.5, count: 3, confidence: 0.4, accuracy: 0.33 },
      { lower: 0.5, upper: 0.75, count: 10, confidence: 0.6, accuracy: 0.7 },
      // As read back from JSON: NaN became null.
      { lower: 0.75, upper: 1, count: 50, confidence: 0.9, accuracy: 0.8 },
    ];
    const { svg, png } = await reliabilityDiagram(bins, { ece: 0.0512 });
    expect(png).toBeUndefined();
    expect(countMarks(svg, 'accuracy')).toBe(3);
    expect(countMarks(svg, 'confidence')).toBe(3);
    expect(countMarks(svg, 'counts')).toBe(3);
    expect(countMarks(svg, 'diagonal')).toBe(1);
    expect(texts(svg)).toContain('Reliability diagram (ECE 5.12%)');
    const fromJson = JSON.parse(JSON.stringify(bins));
    expect(countMarks((await reliabilityDiagram(fromJson)).svg, 'accuracy')).toBe(3);
  });

  it('histograms: one bar per non-empty bin of each series, and the threshold rule', async () => {
    const inDist = histogramOf([0.9, 0.95, 0.99, 0.97, 0.6], { bins: 10, min: 0, max: 1 });
    const ood = histogramOf([0.3, 0.5, 0.55, 0.9], { bins: 10, min: 0, max: 1 });
    const nonEmpty = inDist.counts.filter((c) => c > 0).length + ood.counts.filter((c) => c > 0).length;
    const series = [
      { label: 'in-distribution', histogram: inDist },
      { label: 'OOD', histogram: ood },
    ];
    const conf = await confidenceHistogram(series);
    expect(countMarks(conf.svg, 'bars')).toBe(nonEmpty);
    expect(countMarks(conf.svg, 'threshold')).toBe(0);
    expect(texts(conf.svg)).toEqual(
      expect.arrayContaining(['in-distribution', 'OOD', 'Confidence (max probability)']),
    );
    expect(countMarks((await entropyHistogram(series)).svg, 'bars')).toBe(nonEmpty);
    const la = await logAlphaHistogram([
      { label: 'dense_1', histogram: histogramOf([-6, -4, 3.5, 8], { bins: 8, min: -10, max: 10 }) },
    ]);
    expect(countMarks(la.svg, 'bars')).toBe(4);
    expect(countMarks(la.svg, 'threshold')).toBe(1);
    const snr = await snrHistogram([{ label: 'fc', histogram: histogramOf([0.1, 1, 10], { bins: 3 }) }], {
      threshold: 1,
    });
    expect(countMarks(snr.svg, 'threshold')).toBe(1);
    const counts = await histogramChart(series, { normalize: 'count' });
    expect(countMarks(counts.svg, 'bars')).toBe(nonEmpty);
  });

  it('training curves: a panel per quantity, a point per epoch, nested keys flattened', async () => {
    const history = [0, 1, 2, 3].map((epoch) => ({
      epoch,
      steps: 100,
      loss: 2 - epoch * 0.3,
      terms: { data: 1.5 - 0.2 * epoch, kl: 300 - 10 * epoch, beta: Math.min(1, 0.25 * (epoch + 1)) },
      validation: { accuracy: 0.6 + 0.1 * epoch },
      metrics: epoch >= 2 ? { sparsity: 0.5 + 0.1 * epoch } : undefined,
      note: 'ignored',
    }));
    const { svg } = await trainingCurves(history);
    // loss, data, kl, beta, accuracy: 4 points each; sparsity: 2.
    expect(countMarks(svg, 'points')).toBe(5 * 4 + 2);
    expect(countMarks(svg, 'curve')).toBe(6);
    const labels = texts(svg);
    for (const key of [
      'loss',
      'terms.data',
      'terms.kl',
      'terms.beta',
      'validation.accuracy',
      'metrics.sparsity',
    ]) {
      expect(labels).toContain(key);
    }
    expect(labels).not.toContain('steps');
    const chosen = await trainingCurves(history, { keys: ['terms.kl'] });
    expect(countMarks(chosen.svg, 'points')).toBe(4);
  });

  it('sparsity bars and accuracy-vs-compression curve', async () => {
    const layers = [
      { name: 'dense_1', sparsity: 0.972 },
      { name: 'dense_2', sparsity: 0.964 },
      { name: 'dense_3', sparsity: 0.679 },
    ];
    const bars = await sparsityBars(layers);
    expect(countMarks(bars.svg, 'bars')).toBe(3);
    expect(texts(bars.svg)).toEqual(expect.arrayContaining(['97.2%', '96.4%', '67.9%', 'dense_3']));
    const curve = await accuracyCompressionCurve([
      { compression: 1, accuracy: 0.89, series: 'log α' },
      { compression: 10, accuracy: 0.885, series: 'log α' },
      { compression: 33, accuracy: 0.884, series: 'log α' },
      { compression: 10, accuracy: 0.87, series: 'magnitude' },
      { compression: 33, accuracy: 0.8, series: 'magnitude' },
    ]);
    expect(countMarks(curve.svg, 'points')).toBe(5);
    expect(countMarks(curve.svg, 'curve')).toBe(2);
  });

  it('weight image: one cell per weight for small layers, block-averaged for large ones', async () => {
    const small = {
      rows: 5,
      cols: 8,
      values: Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? 0 : i / 40)),
    };
    expect(countMarks((await weightMaskImage(small)).svg, 'cells')).toBe(40);
    expect(countMarks((await weightMaskImage(small, { mode: 'mask' })).svg, 'cells')).toBe(40);
    const big = { rows: 300, cols: 784, values: new Float32Array(300 * 784).fill(0.5) };
    const image = await weightMaskImage(big, { maxCells: 40 });
    // ⌈300/8⌉ × ⌈784/20⌉ blocks = 38 × 40.
    expect(countMarks(image.svg, 'cells')).toBe(38 * 40);
  });

  it('kernel images: Dense kernels transposed, Conv2D filters tiled with gaps', async () => {
    // Dense [in=3, out=2]: value = 10·i + o.
    const dense = kernelImageMatrix([3, 2], [0, 1, 10, 11, 20, 21]);
    expect(dense).toEqual({ rows: 2, cols: 3, values: [0, 10, 20, 1, 11, 21] });
    // Conv [kh=2, kw=2, in=2, out=2]: value = 100·o + 10·i + 2·y + x; tile (o, i) at tile row o, tile column i.
    const conv = [];
    for (let y = 0; y < 2; y++)
      for (let x = 0; x < 2; x++)
        for (let i = 0; i < 2; i++) for (let o = 0; o < 2; o++) conv.push(100 * o + 10 * i + 2 * y + x);
    const tiled = kernelImageMatrix([2, 2, 2, 2], conv);
    expect(tiled.rows).toBe(5);
    expect(tiled.cols).toBe(5);
    const N = Number.NaN;
    // prettier-ignore
    expect(Array.from(tiled.values)).toEqual([
      0, 1, N, 10, 11,
      2, 3, N, 12, 13,
      N, N, N, N, N,
      100, 101, N, 110, 111,
      102, 103, N, 112, 113,
    ]);
    // Gaps are not drawn: 16 weights, 16 cells.
    expect(countMarks((await weightMaskImage(tiled)).svg, 'cells')).toBe(16);
    // A first layer's 20 filters of 5×5 wrap into a 5-wide grid of 4 rows: 4·6−1 by 5·6−1 cells.
    const first = kernelImageMatrix([5, 5, 1, 20], new Array(500).fill(1));
    expect([first.rows, first.cols]).toEqual([23, 29]);
    expect(countMarks((await weightMaskImage(first)).svg, 'cells')).toBe(500);
    expect(() => kernelImageMatrix([2, 2, 2], new Array(8).fill(0))).toThrow(/rank 3/);
  });

  it('downsampleMatrix averages blocks, edge blocks included, skipping NaN gaps', () => {
    const gaps = downsampleMatrix(
      { rows: 1, cols: 4, values: [1, Number.NaN, Number.NaN, Number.NaN] },
      1,
      2,
    );
    expect(Array.from(gaps.values)).toEqual([1, Number.NaN]);
    const m = { rows: 3, cols: 4, values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] };
    const d = downsampleMatrix(m, 2, 2);
    expect(d.rows).toBe(2);
    expect(d.cols).toBe(2);
    expect(Array.from(d.values)).toEqual([
      (1 + 2 + 5 + 6) / 4,
      (3 + 4 + 7 + 8) / 4,
      (9 + 10) / 2,
      (11 + 12) / 2,
    ]);
    expect(downsampleMatrix(m, 3, 4)).toBe(m);
  });

  it('escapes user strings in the SVG', async () => {
    const { svg } = await sparsityBars([{ name: '<script>alert("x")</script> & co', sparsity: 0.5 }], {
      title: 'a<b>&c',
    });
    parseXml(svg);
    expect(svg).not.toContain('<script');
    expect(texts(svg)).toContain('a&lt;b&gt;&amp;c');
    // Long labels are shortened by Vega, but what remains is escaped.
    expect(texts(svg).some((t) => t.startsWith('&lt;script&gt;alert("x")'))).toBe(true);
    expect(allElements(parseXml(svg)).some((e) => e.name === 'script')).toBe(false);
  });

  it('PNG: valid signature and an IHDR size of the SVG size times the scale', async () => {
    const { svg, png } = await sparsityBars([{ name: 'a', sparsity: 0.25 }], { png: true });
    const size = svgSize(svg);
    expect(pngSize(png as Uint8Array)).toEqual({ width: 2 * size.width, height: 2 * size.height });
    const once = await svgToPng(svg, { scale: 1 });
    expect(pngSize(once)).toEqual(size);
    // Rendering does not depend on the font files passed existing.
    const noFont = await svgToPng(svg, { scale: 1, fontFiles: ['/nonexistent/font.ttf'] });
    expect(pngSize(noFont)).toEqual(size);
  });

  it('the SVG checker rejects malformed documents', () => {
    expect(() => parseXml('<svg><g></svg>')).toThrow();
    expect(() => parseXml('<svg>a & b</svg>')).toThrow(/&/);
    expect(() => parseXml('<svg a="1" a="2"/>')).toThrow(/duplicate/);
    expect(() => pngSize(new Uint8Array(30))).toThrow(/signature/);
  });
});
