import { describe, expect, it } from 'vitest';
import { BayescompError } from '../util/errors.js';
import { parseLayersModelJson, weightByteLength } from './model-json.js';

const topology = { class_name: 'Sequential', config: { name: 's', layers: [] } };

describe('model.json validation', () => {
  it('sizes weights by shape × bytes of the stored dtype, quantised when declared', () => {
    expect(weightByteLength({ name: 'a', shape: [3, 4], dtype: 'float32' })).toBe(48);
    expect(weightByteLength({ name: 'a', shape: [2], dtype: 'int32' })).toBe(8);
    expect(weightByteLength({ name: 'a', shape: [5], dtype: 'bool' })).toBe(5);
    expect(weightByteLength({ name: 'a', shape: [], dtype: 'float32' })).toBe(4);
    expect(weightByteLength({ name: 'a', shape: [3, 0], dtype: 'float32' })).toBe(0);
    const q = (dtype: 'uint8' | 'uint16' | 'float16') => ({ dtype, min: -1, scale: 0.01 });
    expect(weightByteLength({ name: 'a', shape: [3, 4], dtype: 'float32', quantization: q('uint8') })).toBe(
      12,
    );
    expect(weightByteLength({ name: 'a', shape: [3, 4], dtype: 'float32', quantization: q('uint16') })).toBe(
      24,
    );
    expect(weightByteLength({ name: 'a', shape: [3, 4], dtype: 'float32', quantization: q('float16') })).toBe(
      24,
    );
  });

  it('sums each group and accepts Keras (model_config) and TF.js topologies', () => {
    const text = JSON.stringify({
      format: 'layers-model',
      modelTopology: { keras_version: '2.6.0', backend: 'tensorflow', model_config: topology },
      weightsManifest: [
        { paths: ['a.bin'], weights: [{ name: 'k', shape: [2, 3], dtype: 'float32' }] },
        {
          paths: ['b.bin', 'c.bin'],
          weights: [
            { name: 'q', shape: [10], dtype: 'float32', quantization: { dtype: 'uint8', min: 0, scale: 1 } },
            { name: 'h', shape: [3], dtype: 'float32', quantization: { dtype: 'float16' } },
          ],
        },
      ],
    });
    const { groups } = parseLayersModelJson(text, 'm.json');
    expect(groups.map((g) => g.byteLength)).toEqual([24, 16]);
    expect(parseLayersModelJson(JSON.stringify({ modelTopology: topology }), 'm.json').groups).toEqual([]);
  });

  it('rejects malformed manifests naming the file and the entry', () => {
    const cases: [unknown, RegExp][] = [
      [[1, 2], /top level is not a JSON object/],
      [{ format: 'layers-model' }, /modelTopology is missing/],
      [{ modelTopology: { foo: 1 } }, /no class_name/],
      [{ format: 'tfjs-graph', modelTopology: topology }, /unknown model format 'tfjs-graph'/],
      [{ modelTopology: { node: [] } }, /this is a graph model/],
      [{ modelTopology: topology, weightsManifest: {} }, /weightsManifest is not an array/],
      [
        { modelTopology: topology, weightsManifest: [{ paths: 'w.bin', weights: [] }] },
        /paths must be an array/,
      ],
      [
        {
          modelTopology: topology,
          weightsManifest: [{ paths: ['w'], weights: [{ name: 'k', shape: [-1] }] }],
        },
        /weightsManifest\[0\]\.weights\[0\] \('k'\): shape must be an array of non-negative integers/,
      ],
      [
        {
          modelTopology: topology,
          weightsManifest: [
            {
              paths: ['w'],
              weights: [
                { name: 'k', shape: [1], dtype: 'float32' },
                { name: 'k', shape: [1], dtype: 'float32' },
              ],
            },
          ],
        },
        /weight 'k' appears twice/,
      ],
      [
        {
          modelTopology: topology,
          weightsManifest: [
            {
              paths: ['w'],
              weights: [{ name: 'k', shape: [1], dtype: 'float32', quantization: { dtype: 'uint8' } }],
            },
          ],
        },
        /uint8 quantization needs finite 'min' and 'scale'/,
      ],
    ];
    for (const [json, pattern] of cases) {
      const run = () => parseLayersModelJson(JSON.stringify(json), '/models/m.json');
      expect(run).toThrow(BayescompError);
      expect(run).toThrow(pattern);
      expect(run).toThrow(/^\/models\/m\.json: /);
    }
  });
});
