/** One image the page offers, as written to `public/samples.json` by `make-model.ts`. */
export interface SampleImage {
  readonly id: string;
  /** Where the image comes from and its true label, e.g. `Fashion-MNIST test #12: Sneaker`. */
  readonly caption: string;
  /** True class index for in-distribution images; absent for the MNIST digits. */
  readonly label?: number;
  /** Whether the image is out of the training distribution (an MNIST digit). */
  readonly ood: boolean;
  /** 28 × 28 grey levels 0–255, row-major; the model's input is these / 255. */
  readonly pixels: number[];
}

/** Contents of `public/samples.json`. */
export interface SampleFile {
  readonly classNames: readonly string[];
  readonly shape: readonly [number, number, number];
  readonly samples: readonly SampleImage[];
}

/** Where the page finds its files, relative to the page (the build uses `base: './'`). */
export const ASSETS = {
  samples: 'samples.json',
  mapModel: 'model/model.json',
  bayesianModel: 'model-sparse-vd/model.json',
  wasmDir: 'wasm/',
} as const;

/** Monte-Carlo forward passes of the Bayesian model per prediction. */
export const MC_SAMPLES = 100;

/** The model's input for grey levels 0–255: the same scaling by 1/255 as bayescomp's IDX loader. */
export function toInput(pixels: ArrayLike<number>): Float32Array {
  const x = new Float32Array(pixels.length);
  for (let i = 0; i < x.length; i++) x[i] = pixels[i] / 255;
  return x;
}
