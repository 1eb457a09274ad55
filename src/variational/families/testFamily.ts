import * as tf from '@tensorflow/tfjs';
import { createFamily, type FamilySpec, type PosteriorFamily } from './posteriorFamily.js';
import './gaussianPosterior.js';
import './logUniformPosterior.js';

/** Builds a family outside any layer, with free-standing layer variables (test helper). */
export function buildStandaloneFamily(spec: FamilySpec, shape: number[], name = 'kernel'): PosteriorFamily {
  const family = createFamily(spec);
  family.build({
    name,
    shape,
    outputAxis: shape.length - 1,
    inputAxis: shape.length > 1 ? shape.length - 2 : undefined,
    addWeight: (weightName, weightShape, initializer, trainable) =>
      new tf.LayerVariable(initializer.apply(weightShape.slice()), 'float32', weightName, trainable),
  });
  return family;
}
