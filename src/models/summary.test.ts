import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { describeModel, formatModelSummary } from './summary.js';
import { lenet300, lenet5, mlp } from './zoo.js';

describe('describeModel', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('lists LeNet-5-Caffe layer by layer with shapes and parameter counts', () => {
    const model = lenet5({ seed: 1 });
    const summary = describeModel(model);
    expect(summary.layers.map((l) => [l.name, l.className, l.outputShape, l.params, l.weightLayer])).toEqual([
      ['conv_1', 'Conv2D', [null, 24, 24, 20], 5 * 5 * 20 + 20, 'conv2d'],
      ['pool_1', 'MaxPooling2D', [null, 12, 12, 20], 0, undefined],
      ['conv_2', 'Conv2D', [null, 8, 8, 50], 5 * 5 * 20 * 50 + 50, 'conv2d'],
      ['pool_2', 'MaxPooling2D', [null, 4, 4, 50], 0, undefined],
      ['flatten', 'Flatten', [null, 800], 0, undefined],
      ['dense_1', 'Dense', [null, 500], 800 * 500 + 500, 'dense'],
      ['dense_2', 'Dense', [null, 10], 500 * 10 + 10, 'dense'],
    ]);
    expect(summary.totalParams).toBe(431_080);
    expect(summary.trainableParams).toBe(431_080);
    expect(summary.weightLayerParams).toBe(431_080);
    expect(summary.layers.map((l) => l.activation)).toEqual([
      'relu',
      undefined,
      'relu',
      undefined,
      undefined,
      'relu',
      'linear',
    ]);
    model.dispose();
  });

  it('counts trainable parameters separately from frozen ones', () => {
    const model = lenet300({ seed: 1 });
    model.getLayer('dense_1').trainable = false;
    const summary = describeModel(model);
    expect(summary.totalParams).toBe(266_610);
    expect(summary.trainableParams).toBe(266_610 - (784 * 300 + 300));
    expect(summary.layers.find((l) => l.name === 'dense_1')?.trainableParams).toBe(0);
    model.dispose();
  });

  it('formats a table marking the Dense/Conv2D layers', () => {
    const model = mlp({ inputShape: [4], hiddenUnits: [3], dropout: 0.5, numClasses: 2, seed: 1 });
    const text = formatModelSummary(describeModel(model));
    const lines = text.split('\n');
    expect(lines[0]).toBe('model mlp');
    expect(lines).toHaveLength(1 + 1 + 3 + 1);
    expect(lines[2]).toMatch(/^\* dense_1 +Dense \(relu\) +\[batch, 3\] +15$/);
    expect(lines[3]).toMatch(/^ {2}dropout_1 +Dropout +\[batch, 3\] +0$/);
    expect(lines[4]).toMatch(/^\* dense_2 +Dense +\[batch, 2\] +8$/);
    expect(lines[5]).toBe('total 23 parameters (23 trainable, 23 in * Dense/Conv2D layers)');
    model.dispose();
  });
});
