/**
 * The browser example: loads a MAP network and its Sparse VD version (saved as TF.js Layers models by
 * `make-model.ts`), classifies a chosen or drawn 28 × 28 image and shows the predictive distribution with its
 * uncertainty. Everything bayescomp-specific comes from the library's browser entry, `src/browser.ts`.
 *
 * URL options: `?backend=webgl|wasm|cpu` forces a backend (default: webgl, else wasm, else cpu).
 */
import * as tf from '@tensorflow/tfjs';
import {
  BayesianConv2D,
  BayesianDense,
  type BackendName,
  bayesianLayers,
  describeBackend,
  initBackend,
  sparsityReport,
  splitOutputActivation,
} from '../../src/browser.js';
import { drawProbabilityBars, showUncertainty } from './src/bars.js';
import { drawingPad, paintGrey } from './src/pixels.js';
import { type ImagePrediction, argMax, predictDeterministic, predictMonteCarloImage } from './src/predict.js';
import { ASSETS, MC_SAMPLES, type SampleFile, toInput } from './src/samples.js';

type ModelChoice = 'map' | 'sparse-vd';

function byId<T extends HTMLElement | SVGElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`page element #${id} is missing`);
  return element as T;
}

const status = byId<HTMLElement>('status');
const result = byId<HTMLElement>('result');

function setStatus(text: string, state: 'loading' | 'ready' | 'busy' | 'error'): void {
  status.textContent = text;
  status.dataset.state = state;
}

function assetUrl(path: string): string {
  return new URL(path, document.baseURI).href;
}

async function startBackend(): Promise<void> {
  const requested = new URLSearchParams(location.search).get('backend') as BackendName | null;
  const info = await initBackend({ backend: requested ?? 'auto', wasmPaths: assetUrl(ASSETS.wasmDir) });
  const element = byId<HTMLElement>('backend');
  element.textContent = describeBackend(info);
  element.dataset.backend = info.name;
  if (info.skipped.length > 0)
    element.title = info.skipped.map((s) => `${s.name} skipped: ${s.reason}`).join('\n');
}

interface LoadedModels {
  /** The MAP network's logits (a softmax folded into its last layer would be split off). */
  readonly map: tf.LayersModel;
  readonly bayesian: tf.LayersModel;
}

/** Class names of the model's Bayesian layers, e.g. `BayesianDense`. */
function layerClasses(model: tf.LayersModel): string {
  const known = new Set<string>([BayesianDense.className, BayesianConv2D.className]);
  const names = new Set(bayesianLayers(model).map((l) => l.getClassName()));
  return [...names].filter((n) => known.has(n)).join(', ');
}

async function loadModels(): Promise<LoadedModels> {
  const [mapModel, bayesian] = await Promise.all([
    tf.loadLayersModel(assetUrl(ASSETS.mapModel)),
    // Deserialising BayesianDense/BayesianConv2D works because importing the browser entry registered them.
    tf.loadLayersModel(assetUrl(ASSETS.bayesianModel)),
  ]);
  const map = splitOutputActivation(mapModel).logits;
  const sparsity = sparsityReport(bayesian);
  byId<HTMLElement>('model-info').textContent =
    `Sparse VD model: ${bayesianLayers(bayesian).length} Bayesian layers (${layerClasses(bayesian)}); ` +
    `${(100 * sparsity.fraction).toFixed(1)}% of its ${sparsity.total.toLocaleString('en')} weights are pruned ` +
    `(log α ≥ 3).`;
  return { map, bayesian };
}

async function main(): Promise<void> {
  await startBackend();
  const [samplesResponse, models] = await Promise.all([fetch(assetUrl(ASSETS.samples)), loadModels()]);
  if (!samplesResponse.ok) throw new Error(`${ASSETS.samples}: HTTP ${samplesResponse.status}`);
  const sampleFile = (await samplesResponse.json()) as SampleFile;
  const { classNames } = sampleFile;
  const [height, width, channels] = sampleFile.shape;
  byId<HTMLElement>('mc-samples').textContent = String(MC_SAMPLES);

  const preview = byId<HTMLCanvasElement>('input-preview');
  const bars = byId<SVGSVGElement>('bars');
  const uncertainty = byId<HTMLDListElement>('uncertainty');
  const predicted = byId<HTMLElement>('predicted');
  const caption = byId<HTMLElement>('caption');
  let current: { id: string; caption: string; pixels: ArrayLike<number> } | undefined;
  let runId = 0;

  const modelChoice = (): ModelChoice =>
    (document.querySelector<HTMLInputElement>('input[name="model"]:checked')?.value as ModelChoice) ?? 'map';

  async function classify(): Promise<void> {
    if (!current) return;
    const run = ++runId;
    const choice = modelChoice();
    result.dataset.state = 'running';
    setStatus('Predicting…', 'busy');
    paintGrey(preview, current.pixels, width);
    const x = tf.tensor4d(toInput(current.pixels), [1, height, width, channels]);
    let prediction: ImagePrediction;
    try {
      prediction =
        choice === 'map'
          ? await predictDeterministic(models.map, x)
          : await predictMonteCarloImage(models.bayesian, x, MC_SAMPLES);
    } finally {
      x.dispose();
    }
    if (run !== runId) return; // A newer request has started; its result will be shown instead.
    const top = argMax(prediction.probs);
    predicted.textContent = `${classNames[top]} — ${(100 * prediction.probs[top]).toFixed(1)}%`;
    predicted.dataset.class = String(top);
    caption.textContent = `${current.caption} · ${choice === 'map' ? 'MAP' : 'Sparse VD, Monte-Carlo'}`;
    drawProbabilityBars(bars, classNames, prediction, top);
    showUncertainty(uncertainty, prediction, classNames.length);
    result.dataset.sample = current.id;
    result.dataset.model = choice;
    result.dataset.run = String(run);
    result.dataset.state = 'done';
    setStatus(`Ready · ${tf.memory().numTensors} tensors held`, 'ready');
  }

  const report = (err: unknown): void => {
    console.error(err);
    result.dataset.state = 'error';
    setStatus(`Error: ${err instanceof Error ? err.message : String(err)}`, 'error');
  };

  const gallery = byId<HTMLElement>('gallery');
  for (const sample of sampleFile.samples) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = sample.ood ? 'sample ood' : 'sample';
    button.dataset.id = sample.id;
    button.title = sample.caption;
    button.setAttribute('aria-pressed', 'false');
    const thumb = document.createElement('canvas');
    thumb.className = 'pixels';
    thumb.style.width = '52px';
    thumb.style.height = '52px';
    paintGrey(thumb, sample.pixels, width);
    button.append(thumb);
    button.addEventListener('click', () => {
      gallery.querySelectorAll('button').forEach((b) => b.setAttribute('aria-pressed', String(b === button)));
      current = sample;
      classify().catch(report);
    });
    gallery.append(button);
  }

  const pad = drawingPad(byId<HTMLCanvasElement>('draw'), width);
  byId<HTMLButtonElement>('classify-drawing').addEventListener('click', () => {
    if (pad.isEmpty()) {
      setStatus('Draw something first.', 'ready');
      return;
    }
    gallery.querySelectorAll('button').forEach((b) => b.setAttribute('aria-pressed', 'false'));
    current = { id: 'drawing', caption: 'Your drawing', pixels: pad.read() };
    classify().catch(report);
  });
  byId<HTMLButtonElement>('clear-drawing').addEventListener('click', () => pad.clear());
  document
    .querySelectorAll<HTMLInputElement>('input[name="model"]')
    .forEach((input) => input.addEventListener('change', () => classify().catch(report)));

  document.body.dataset.ready = 'true';
  setStatus('Ready — choose or draw an image.', 'ready');
}

main().catch((err: unknown) => {
  console.error(err);
  setStatus(`Error: ${err instanceof Error ? err.message : String(err)}`, 'error');
});
