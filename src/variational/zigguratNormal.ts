import type { Random } from '../runtime/random.js';

/**
 * Standard normal draws by the ziggurat method (Marsaglia & Tsang 2000, "The Ziggurat Method for Generating Random
 * Variables", J. Stat. Softw. 5(8)), with 128 layers: about 99% of draws cost one 32-bit word, a table look-up and a
 * multiplication, against a logarithm, a square root and a cosine per draw for Box–Muller (`Random.fillNormal`).
 * The layers draw one normal per pre-activation and example at every step (1.5 million per step for LeNet-5), so
 * this is on the training loop's hot path.
 *
 * Each word's low 7 bits choose the layer and its upper 25 bits (signed) the position in it, so the layer and the
 * value are independent (Doornik 2005 pointed out the correlation when the same bits serve both). Exact: the
 * rejection steps make the output N(0, 1) up to the 25-bit resolution of the position.
 */

const LAYERS = 128;
/** x-coordinate where the base layer's tail begins (Marsaglia & Tsang 2000, Table 1, n = 128). */
const R = 3.442619855899;
/** Area of each layer, the tail's included. */
const AREA = 9.91256303526217e-3;
/** Scale of the signed 25-bit position: positions are integers in [−2²⁴, 2²⁴). */
const SCALE = 2 ** 24;

/** Per layer i: the acceptance threshold on |position|, the position-to-x scale, and f(x_i) = exp(−x_i²/2). */
const kn = new Int32Array(LAYERS);
const wn = new Float64Array(LAYERS);
const fn = new Float64Array(LAYERS);
{
  let dn = R;
  let tn = R;
  const q = AREA / Math.exp(-0.5 * dn * dn);
  kn[0] = Math.floor((dn / q) * SCALE);
  kn[1] = 0;
  wn[0] = q / SCALE;
  wn[LAYERS - 1] = dn / SCALE;
  fn[0] = 1;
  fn[LAYERS - 1] = Math.exp(-0.5 * dn * dn);
  for (let i = LAYERS - 2; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(AREA / dn + Math.exp(-0.5 * dn * dn)));
    kn[i + 1] = Math.floor((dn / tn) * SCALE);
    tn = dn;
    fn[i] = Math.exp(-0.5 * dn * dn);
    wn[i] = dn / SCALE;
  }
}

/** A uniform draw from (0, 1) (never 0, so its logarithm is finite). */
function openUniform(random: Random): number {
  return (random.nextUint32() + 0.5) / 4294967296;
}

/** The rare path: a draw outside the fast rectangle of layer `layer` at signed position `position`. */
function slowDraw(random: Random, layer: number, position: number): number {
  for (;;) {
    const x = position * wn[layer];
    if (layer === 0) {
      // The tail beyond R (Marsaglia 1964): x = −log(u₁)/R, accepted when −2·log(u₂) > x².
      let tail: number;
      let y: number;
      do {
        tail = -Math.log(openUniform(random)) / R;
        y = -Math.log(openUniform(random));
      } while (y + y < tail * tail);
      return position > 0 ? R + tail : -R - tail;
    }
    if (fn[layer] + openUniform(random) * (fn[layer - 1] - fn[layer]) < Math.exp(-0.5 * x * x)) return x;
    const word = random.nextUint32();
    layer = word & (LAYERS - 1);
    position = (word | 0) >> 7;
    if (Math.abs(position) < kn[layer]) return position * wn[layer];
  }
}

/** Fills `out` with independent standard normal draws from `random` and returns it. */
export function fillZigguratNormal(out: Float32Array, random: Random): Float32Array {
  for (let i = 0; i < out.length; i++) {
    const word = random.nextUint32();
    const layer = word & (LAYERS - 1);
    const position = (word | 0) >> 7;
    out[i] = Math.abs(position) < kn[layer] ? position * wn[layer] : slowDraw(random, layer, position);
  }
  return out;
}
