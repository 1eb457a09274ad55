import * as tf from '@tensorflow/tfjs';
import { createFamily, type FamilySpec, type PosteriorFamily } from './posteriorFamily.js';

/** A family built outside any layer, with its variables reachable by local name (test helper). */
export interface FamilyWithVariables<F extends PosteriorFamily> {
  readonly family: F;
  /** The family's variables by the name it gave them (`kernel_mu`, `kernel_z_log_sigma2`, …). */
  readonly variables: Map<string, tf.LayerVariable>;
  /** Overwrites a variable with `values` (a number fills it). */
  set(name: string, values: number | readonly number[]): void;
  /** The current values of a variable. */
  get(name: string): number[];
}

/**
 * Builds a family on free-standing variables, with kernel axes as a Bayesian layer passes them (input axis
 * rank − 2, output axis rank − 1), and gives the tests direct access to the variables.
 */
export function buildFamilyWithVariables<F extends PosteriorFamily>(
  spec: FamilySpec,
  shape: number[],
  name = 'kernel',
): FamilyWithVariables<F> {
  const family = createFamily(spec) as F;
  const variables = new Map<string, tf.LayerVariable>();
  family.build({
    name,
    shape,
    outputAxis: shape.length - 1,
    inputAxis: shape.length > 1 ? shape.length - 2 : undefined,
    addWeight: (weightName, weightShape, initializer, trainable) => {
      const variable = new tf.LayerVariable(
        initializer.apply(weightShape.slice()),
        'float32',
        weightName,
        trainable,
      );
      variables.set(weightName, variable);
      return variable;
    },
  });
  const lookup = (key: string) => {
    const variable = variables.get(key);
    if (!variable) throw new Error(`no variable '${key}' (have ${[...variables.keys()].join(', ')})`);
    return variable;
  };
  return {
    family,
    variables,
    set(key, values) {
      const variable = lookup(key);
      const shapeOf = variable.shape as number[];
      tf.tidy(() => {
        variable.write(
          typeof values === 'number' ? tf.fill(shapeOf, values) : tf.tensor(values.slice(), shapeOf),
        );
      });
    },
    get(key) {
      return Array.from(lookup(key).read().dataSync());
    },
  };
}

/**
 * Central finite difference of `f` with respect to element `index` of a variable, next to its automatic gradient.
 * `f` must return a fresh scalar tensor.
 */
export function finiteDifference(
  f: () => tf.Scalar,
  variable: tf.LayerVariable,
  index: number,
  h: number,
): { numeric: number; automatic: number } {
  const base = Array.from(variable.read().dataSync());
  const shape = variable.shape as number[];
  const evaluate = (values: number[]) => {
    tf.tidy(() => {
      variable.write(tf.tensor(values, shape));
    });
    const value = f();
    const result = value.dataSync()[0];
    value.dispose();
    return result;
  };
  const plus = base.slice();
  plus[index] += h;
  const minus = base.slice();
  minus[index] -= h;
  const numeric = (evaluate(plus) - evaluate(minus)) / (2 * h);
  evaluate(base);
  const tfVariable = variable.read() as tf.Variable;
  const { grads, value } = tf.variableGrads(f, [tfVariable]);
  const gradient = grads[tfVariable.name];
  const automatic = gradient.dataSync()[index];
  gradient.dispose();
  value.dispose();
  return { numeric, automatic };
}
