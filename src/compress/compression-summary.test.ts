import { describe, expect, it } from 'vitest';
import { formatCompressionTable, summarizeCompression } from './compression-summary.js';
import type { WeightPosterior } from './weight-posterior.js';

describe('summarizeCompression', () => {
  const a: WeightPosterior = { layer: 'd1', name: 'd1/kernel', shape: [3, 4], mean: new Float32Array(12) };
  const b: WeightPosterior = { layer: 'd2', name: 'd2/kernel', shape: [4, 2], mean: new Float32Array(8) };
  // d1 keeps 3 weights in rows {0, 2} and columns {1, 3}; d2 keeps all 8.
  const maskA = Uint8Array.from([0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]);

  it('counts kept weights, live units and dense sub-matrices', () => {
    const { rows, totals } = summarizeCompression([a, b], new Map([['d1/kernel', maskA]]));
    expect(rows[0]).toMatchObject({
      weights: 12,
      kept: 3,
      sparsity: 0.75,
      liveUnits: [2, 4],
      denseSubmatrixSize: 4,
    });
    expect(rows[1]).toMatchObject({
      weights: 8,
      kept: 8,
      sparsity: 0,
      liveUnits: [2, 2],
      denseSubmatrixSize: 8,
    });
    expect(totals.compressionRatio).toBeCloseTo(20 / 11, 12);
    expect(totals.bitCompressionRatio).toBeUndefined();
  });

  it('gives the bit compression from per-tensor precision', () => {
    const p5 = { significandBits: 3, exponentBits: 1, minExponent: 0, maxExponent: 1, bitsPerWeight: 5 };
    const p8 = { ...p5, significandBits: 6, bitsPerWeight: 8 };
    const { totals } = summarizeCompression(
      [a, b],
      new Map([['d1/kernel', maskA]]),
      new Map([
        ['d1/kernel', p5],
        ['d2/kernel', p8],
      ]),
    );
    expect(totals.bitCompressionRatio).toBeCloseTo((32 * 20) / (3 * 5 + 8 * 8), 12);
    expect(totals.denseSubmatrixBitRatio).toBeCloseTo((32 * 20) / (4 * 5 + 8 * 8), 12);
    const table = formatCompressionTable(summarizeCompression([a, b], new Map([['d1/kernel', maskA]])));
    expect(table).toMatch(/d1\/kernel\s+\[3×4\]\s+12\s+3\s+75\.0%\s+2\/4/);
    expect(table).toMatch(/1\.8×/);
  });
});
