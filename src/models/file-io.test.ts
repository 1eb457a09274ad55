import * as tf from '@tensorflow/tfjs';
import { mkdtemp, mkdir, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { BayescompError } from '../util/errors.js';
import { loadModel, readModelArtifacts, saveModel } from './file-io.js';
import { cnn, mlp } from './zoo.js';

let root: string;
let counter = 0;
const freshDir = () => join(root, `case-${++counter}`);

function smallCnn(seed = 1): tf.LayersModel {
  return cnn({ inputShape: [8, 8, 1], filters: [3], denseUnits: [6], numClasses: 4, seed });
}

/** Predictions of two models on the same inputs, compared bit for bit. */
function expectSamePredictions(a: tf.LayersModel, b: tf.LayersModel, inputShape: number[]): void {
  const x = tf.randomNormal([5, ...inputShape], 0, 1, 'float32', 11);
  const pa = a.predict(x) as tf.Tensor;
  const pb = b.predict(x) as tf.Tensor;
  const bytesA = Buffer.from((pa.dataSync() as Float32Array).buffer);
  const bytesB = Buffer.from((pb.dataSync() as Float32Array).buffer);
  expect(bytesA.equals(bytesB)).toBe(true);
  tf.dispose([x, pa, pb]);
}

/** Saves with stock TF.js and returns the artefacts it hands to a save handler. */
async function stockArtifacts(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  if (!captured) throw new Error('save handler was not called');
  return captured;
}

function weightBytes(artifacts: tf.io.ModelArtifacts): Uint8Array {
  return new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData));
}

async function expectBadModel(path: string, code: string, pattern: RegExp, file: string): Promise<void> {
  const before = tf.memory().numTensors;
  const err = await loadModel(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BayescompError);
  const e = err as BayescompError;
  expect(e.code).toBe(code);
  expect(e.message).toMatch(pattern);
  expect(e.message.startsWith(file)).toBe(true);
  expect(e.message).not.toContain('\n');
  // Validation happens before TF.js allocates anything.
  expect(tf.memory().numTensors).toBe(before);
}

describe('model files', () => {
  beforeAll(async () => {
    await initBackend();
    root = await mkdtemp(join(tmpdir(), 'bayescomp-models-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('round-trips a model bit-exactly in the tfjs-node layout (model.json + weights.bin)', async () => {
    const model = smallCnn();
    const dir = freshDir();
    const jsonPath = await saveModel(model, dir);
    expect(jsonPath).toBe(join(dir, 'model.json'));
    expect((await readdir(dir)).sort()).toEqual(['model.json', 'weights.bin']);
    const json = JSON.parse(await readFile(jsonPath, 'utf8'));
    expect(Object.keys(json)).toEqual([
      'modelTopology',
      'weightsManifest',
      'format',
      'generatedBy',
      'convertedBy',
    ]);
    expect(json.format).toBe('layers-model');
    expect(json.generatedBy).toMatch(/^TensorFlow\.js tfjs-layers v/);
    expect(json.convertedBy).toBeNull();
    expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
    expect(json.weightsManifest[0].weights.map((w: { name: string }) => w.name)).toEqual([
      'conv_1/kernel',
      'conv_1/bias',
      'dense_1/kernel',
      'dense_1/bias',
      'dense_2/kernel',
      'dense_2/bias',
    ]);
    // The bytes on disk are exactly what stock TF.js hands to a save handler.
    const stock = await stockArtifacts(model);
    expect(
      Buffer.from(await readFile(join(dir, 'weights.bin'))).equals(Buffer.from(weightBytes(stock))),
    ).toBe(true);
    expect(json.modelTopology).toEqual(stock.modelTopology);
    expect(json.weightsManifest[0].weights).toEqual(stock.weightSpecs);

    const loaded = await loadModel(dir);
    expect(loaded.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    expectSamePredictions(model, loaded, [8, 8, 1]);
    // Loading by the model.json path works too.
    const again = await loadModel(jsonPath);
    expectSamePredictions(model, again, [8, 8, 1]);
    [model, loaded, again].forEach((m) => m.dispose());
  });

  it('loads what stock TF.js saved, in the tfjs-node and the browser-download layouts', async () => {
    const model = mlp({ inputShape: [6], hiddenUnits: [5], numClasses: 3, seed: 2 });
    const artifacts = await stockArtifacts(model);
    const weights = weightBytes(artifacts);
    const manifestFor = (path: string) => [{ paths: [path], weights: artifacts.weightSpecs }];
    const layouts: [string, string, string][] = [
      ['tfjs-node', 'weights.bin', 'weights.bin'],
      ['browser', 'model.weights.bin', './model.weights.bin'],
    ];
    for (const [, fileName, manifestPath] of layouts) {
      const dir = freshDir();
      await mkdir(dir);
      await writeFile(join(dir, fileName), weights);
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: manifestFor(manifestPath),
      };
      await writeFile(join(dir, 'model.json'), JSON.stringify(modelJson));
      const loaded = await loadModel(join(dir, 'model.json'));
      expectSamePredictions(model, loaded, [6]);
      loaded.dispose();
    }
    model.dispose();
  });

  it('writes files stock TF.js loads (fromMemory from plain fs reads), also when sharded', async () => {
    const model = smallCnn(3);
    for (const shardSizeBytes of [undefined, 1000]) {
      const dir = freshDir();
      await saveModel(model, dir, { shardSizeBytes });
      const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
      const paths = json.weightsManifest.flatMap((g) => g.paths);
      if (shardSizeBytes) {
        const total = model.countParams() * 4;
        const n = Math.ceil(total / shardSizeBytes);
        expect(paths).toEqual(Array.from({ length: n }, (_, i) => `group1-shard${i + 1}of${n}.bin`));
      }
      const buffers = await Promise.all(paths.map((p) => readFile(join(dir, p))));
      const weightData = new Uint8Array(Buffer.concat(buffers)).buffer;
      const specs = json.weightsManifest.flatMap((g) => g.weights);
      const stock = await tf.loadLayersModel(tf.io.fromMemory(json.modelTopology, specs, weightData));
      expectSamePredictions(model, stock, [8, 8, 1]);
      stock.dispose();
    }
    model.dispose();
  });

  it('repeated save and load cycles leak no tensors', async () => {
    const model = smallCnn(8);
    const dir = freshDir();
    const baseline = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await saveModel(model, dir);
      (await loadModel(dir)).dispose();
      expect(tf.memory().numTensors).toBe(baseline);
    }
    model.dispose();
  });

  it('re-saving replaces the shards and leaves no stale or temporary files', async () => {
    const dir = freshDir();
    const a = smallCnn(4);
    await saveModel(a, dir, { shardSizeBytes: 500 });
    expect((await readdir(dir)).filter((f) => f.startsWith('group1-')).length).toBeGreaterThan(1);
    const b = smallCnn(5);
    await saveModel(b, dir);
    expect((await readdir(dir)).sort()).toEqual(['model.json', 'weights.bin']);
    const loaded = await loadModel(dir);
    expectSamePredictions(b, loaded, [8, 8, 1]);
    [a, b, loaded].forEach((m) => m.dispose());
  });

  it('accepts file:// paths, a model.json path to save to, a byte-order mark, and the optimizer state', async () => {
    const model = smallCnn(7);
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
    const x = tf.randomNormal([4, 8, 8, 1], 0, 1, 'float32', 1);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4);
    await model.fit(x, y, { epochs: 1, verbose: 0 });
    const dir = freshDir();
    const jsonPath = await saveModel(model, join(dir, 'model.json'), { includeOptimizer: true });
    expect(jsonPath).toBe(join(dir, 'model.json'));
    const json = JSON.parse(await readFile(jsonPath, 'utf8')) as tf.io.ModelJSON;
    const groups = json.weightsManifest[0].weights.map((w) => w.group ?? 'model');
    expect(groups.filter((g) => g === 'optimizer').length).toBeGreaterThan(0);
    await writeFile(jsonPath, '\uFEFF' + (await readFile(jsonPath, 'utf8')));
    const loaded = await loadModel(`file://${dir}`);
    expectSamePredictions(model, loaded, [8, 8, 1]);
    tf.dispose([x, y]);
    [model, loaded].forEach((m) => m.dispose());
  });

  it('serves file:// URLs for model.save and tf.loadLayersModel', async () => {
    const model = smallCnn(6);
    const dir = freshDir();
    await model.save(`file://${dir}`);
    const loaded = await tf.loadLayersModel(`file://${join(dir, 'model.json')}`);
    expectSamePredictions(model, loaded, [8, 8, 1]);
    [model, loaded].forEach((m) => m.dispose());
  });

  it('loads custom layers registered with tf.serialization.registerClass', async () => {
    class ScaleLayer extends tf.layers.Layer {
      static readonly className = 'BayescompTestScale';
      private scale?: tf.LayerVariable;
      override build(inputShape: tf.Shape | tf.Shape[]): void {
        const shape = inputShape as tf.Shape;
        this.scale = this.addWeight(
          'scale',
          [shape[shape.length - 1] as number],
          'float32',
          tf.initializers.ones(),
        );
        this.built = true;
      }
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.tidy(() => tf.mul(Array.isArray(inputs) ? inputs[0] : inputs, this.scale!.read()));
      }
    }
    tf.serialization.registerClass(ScaleLayer);
    const model = tf.sequential();
    model.add(tf.layers.dense({ inputShape: [3], units: 4, name: 'd' }));
    model.add(new ScaleLayer({ name: 'scale' }));
    model.getLayer('scale').setWeights([tf.tensor1d([1, -2, 3, 0.5])]);
    const dir = freshDir();
    await saveModel(model, dir);
    const loaded = await loadModel(dir);
    expect(loaded.getLayer('scale').getClassName()).toBe('BayescompTestScale');
    expect(Array.from(loaded.getLayer('scale').getWeights()[0].dataSync())).toEqual([1, -2, 3, 0.5]);
    expectSamePredictions(model, loaded, [3]);
    [model, loaded].forEach((m) => m.dispose());
  });

  describe('rejects bad models with a one-line error naming the file, before allocating', () => {
    let good: string;
    let goodJson: tf.io.ModelJSON;

    beforeAll(async () => {
      good = freshDir();
      const model = mlp({ inputShape: [4], hiddenUnits: [3], numClasses: 2, seed: 7 });
      await saveModel(model, good, { shardSizeBytes: 40 });
      model.dispose();
      goodJson = JSON.parse(await readFile(join(good, 'model.json'), 'utf8'));
    });

    /** A copy of the good model whose model.json is changed by `edit`. */
    async function variant(edit: (json: tf.io.ModelJSON) => void): Promise<string> {
      const dir = freshDir();
      await mkdir(dir);
      for (const name of await readdir(good))
        await writeFile(join(dir, name), await readFile(join(good, name)));
      const json = structuredClone(goodJson);
      edit(json);
      await writeFile(join(dir, 'model.json'), JSON.stringify(json));
      return dir;
    }

    it('a manifest path escaping with ../', async () => {
      const dir = await variant((j) => (j.weightsManifest[0].paths[0] = '../x'));
      await expectBadModel(
        dir,
        'bad-format',
        /weight path '\.\.\/x' leaves the directory/,
        join(dir, 'model.json'),
      );
      const nested = await variant((j) => (j.weightsManifest[0].paths[0] = 'sub/../../x.bin'));
      await expectBadModel(nested, 'bad-format', /leaves the directory/, join(nested, 'model.json'));
    });

    it('an absolute manifest path (POSIX and Windows) or URL', async () => {
      const abs = join(good, 'group1-shard1of3.bin');
      for (const p of [abs, 'C:\\models\\w.bin', 'https://example.com/w.bin']) {
        const dir = await variant((j) => (j.weightsManifest[0].paths[0] = p));
        await expectBadModel(dir, 'bad-format', /is absolute|is a URL/, join(dir, 'model.json'));
      }
    });

    it('a symbolic link leading out of the directory', async () => {
      const outside = join(root, 'outside.bin');
      await writeFile(outside, await readFile(join(good, 'group1-shard1of3.bin')));
      const dir = await variant(() => undefined);
      await rm(join(dir, 'group1-shard1of3.bin'));
      await symlink(outside, join(dir, 'group1-shard1of3.bin'));
      await expectBadModel(
        dir,
        'bad-format',
        /symbolic link that leaves the directory/,
        join(dir, 'model.json'),
      );
    });

    it('a missing shard', async () => {
      const dir = await variant(() => undefined);
      await rm(join(dir, 'group1-shard2of3.bin'));
      await expectBadModel(
        dir,
        'not-found',
        /weight shard 'group1-shard2of3\.bin' listed in weightsManifest does not exist/,
        join(dir, 'model.json'),
      );
    });

    it('a declared shape that does not match the bytes', async () => {
      const dir = await variant((j) => (j.weightsManifest[0].weights[0].shape = [4, 4]));
      // 4·3+3 + 3·2+2 = 23 floats = 92 bytes on disk; the edit declares 4·4+3+3·2+2 = 27 floats = 108 bytes.
      await expectBadModel(
        dir,
        'bad-format',
        /weightsManifest\[0\] declares 108 bytes for 4 weights .* hold 92 bytes/,
        join(dir, 'model.json'),
      );
    });

    it('a truncated shard', async () => {
      const dir = await variant(() => undefined);
      await truncate(join(dir, 'group1-shard3of3.bin'), 5);
      await expectBadModel(
        dir,
        'bad-format',
        /declares 92 bytes .* hold 85 bytes \(truncated/,
        join(dir, 'model.json'),
      );
    });

    it('malformed JSON, with line and column', async () => {
      const dir = await variant(() => undefined);
      await writeFile(join(dir, 'model.json'), '{\n  "format": "layers-model",\n  "modelTopology": }\n');
      await expectBadModel(dir, 'bad-format', /invalid JSON at line 3, column 20/, join(dir, 'model.json'));
    });

    it('a graph model', async () => {
      const dir = await variant((j) => {
        j.format = 'graph-model';
        j.modelTopology = { node: [{ name: 'x', op: 'Placeholder' }], library: {}, versions: {} };
      });
      await expectBadModel(
        dir,
        'bad-format',
        /this is a graph model \(converted from a SavedModel\); bayescomp needs a Layers model/,
        join(dir, 'model.json'),
      );
    });

    it('a weight with an unknown quantization or dtype', async () => {
      const dir = await variant(
        (j) => (j.weightsManifest[0].weights[1].quantization = { dtype: 'int4' as 'uint8' }),
      );
      await expectBadModel(dir, 'bad-format', /unknown quantization dtype 'int4'/, join(dir, 'model.json'));
      const dir2 = await variant((j) => (j.weightsManifest[0].weights[1].dtype = 'string'));
      await expectBadModel(dir2, 'bad-format', /unsupported dtype 'string'/, join(dir2, 'model.json'));
    });

    it('an unregistered layer class', async () => {
      const dir = await variant((j) => {
        const topology = j.modelTopology as { config: { layers: { class_name: string }[] } };
        topology.config.layers[0].class_name = 'NoSuchLayer';
      });
      await expectBadModel(dir, 'bad-format', /unregistered class 'NoSuchLayer'/, join(dir, 'model.json'));
    });

    it('a directory without model.json, and a path that does not exist', async () => {
      const empty = freshDir();
      await mkdir(empty);
      await expectBadModel(empty, 'not-found', /holds no model\.json/, empty);
      await expectBadModel(join(root, 'nope'), 'not-found', /no such model file/, join(root, 'nope'));
    });

    it('the unedited copy loads (the cases above fail for the stated reason only)', async () => {
      const dir = await variant(() => undefined);
      const { artifacts } = await readModelArtifacts(dir);
      expect(artifacts.weightSpecs).toHaveLength(4);
      (await loadModel(dir)).dispose();
    });
  });
});
