import { describe, expect, it } from 'vitest';
import { Random } from '../runtime/random.js';
import { decodeGaps, encodeGaps, packBits, unpackBits } from './bit-stream.js';
import { decodeTensor, encodeTensor } from './compact-codec.js';
import { dequantize, snapToCodebook } from './quantize.js';

describe('bit streams', () => {
  it('pack and unpack any width exactly', () => {
    const r = new Random(3);
    for (const bits of [1, 2, 3, 5, 8, 13]) {
      const values = Array.from({ length: 101 }, () => r.int(2 ** bits));
      const packed = packBits(values, bits);
      expect(packed.length).toBe(Math.ceil((101 * bits) / 8));
      expect(Array.from(unpackBits(packed, 101, bits))).toEqual(values);
    }
  });

  it('gap-encodes sparse masks with one byte per small gap', () => {
    const mask = new Uint8Array(1000);
    [0, 5, 127, 128, 999].forEach((i) => (mask[i] = 1));
    const gaps = encodeGaps(mask);
    // Gaps 0, 4, 121, 0, 870 (two bytes).
    expect(gaps.length).toBe(6);
    expect(Array.from(decodeGaps(gaps, 1000, 5))).toEqual(Array.from(mask));
  });
});

describe('compact tensor codec', () => {
  const r = new Random(11);
  const values = Float32Array.from({ length: 600 }, () => r.normal());
  const sparseMask = Uint8Array.from({ length: 600 }, () => (r.uniform() < 0.05 ? 1 : 0));
  const denseMask = Uint8Array.from({ length: 600 }, () => (r.uniform() < 0.7 ? 1 : 0));
  const kept = (m: Uint8Array) => m.reduce((s, x) => s + x, 0);

  it('round-trips dense, sparse and codebook tensors exactly', () => {
    const dense = encodeTensor({ name: 'w', shape: [20, 30], values }, 0);
    expect(decodeTensor(dense.spec, dense.bytes)).toEqual(values);
    for (const mask of [sparseMask, denseMask]) {
      const sparse = encodeTensor({ name: 'w', shape: [20, 30], values, mask }, 0);
      const expected = values.map((v, i) => (mask[i] ? v : 0));
      expect(decodeTensor(sparse.spec, sparse.bytes)).toEqual(expected);
      const keptValues = values.filter((_, i) => mask[i]);
      const q = snapToCodebook(keptValues, Float32Array.from([-0.5, 0, 0.5]));
      const coded = encodeTensor({ name: 'w', shape: [20, 30], values, mask, quantization: q }, 0);
      const d = dequantize(q);
      let k = 0;
      const expectedQ = values.map((_, i) => (mask[i] ? d[k++] : 0));
      expect(decodeTensor(coded.spec, coded.bytes)).toEqual(expectedQ);
    }
  });

  it('picks the smaller index encoding and its size is as computed', () => {
    const sparse = encodeTensor({ name: 'w', shape: [600], values, mask: sparseMask }, 0);
    expect(sparse.spec.index).toBe('gaps');
    const dense = encodeTensor({ name: 'w', shape: [600], values, mask: denseMask }, 0);
    expect(dense.spec.index).toBe('bitmask');
    expect(dense.bytes.length).toBe(75 + 4 * kept(denseMask));
    const q = snapToCodebook(
      values.filter((_, i) => denseMask[i]),
      Float32Array.from([-1, 0, 1]),
    );
    const coded = encodeTensor({ name: 'w', shape: [600], values, mask: denseMask, quantization: q }, 0);
    expect(coded.bytes.length).toBe(75 + 12 + Math.ceil((2 * kept(denseMask)) / 8));
  });

  it('rejects corrupt payloads with a clear error', () => {
    const sparse = encodeTensor({ name: 'w', shape: [600], values, mask: sparseMask }, 0);
    expect(() =>
      decodeTensor({ ...sparse.spec, byteLength: sparse.spec.byteLength + 10 }, sparse.bytes),
    ).toThrow(/outside the payload/);
    expect(() => decodeTensor({ ...sparse.spec, kept: (sparse.spec.kept ?? 0) + 5 }, sparse.bytes)).toThrow(
      /w:/,
    );
  });
});
