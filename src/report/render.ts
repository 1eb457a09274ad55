/**
 * Chart rendering without a browser: Vega-Lite specifications are compiled to Vega, rendered to SVG text by a
 * headless Vega view, and rasterised to PNG by resvg (a Rust SVG renderer shipped as a native npm package, loaded
 * only when a PNG is asked for, so the SVG path also runs in a browser).
 */
import * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { compile } from 'vega-lite';
import { BayescompError } from '../util/errors.js';

/** The font stack charts ask for; DejaVu Sans first, as Debian's `fonts-dejavu-core` provides it. */
export const CHART_FONT = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';

/** Options every chart function takes. */
export interface ChartOptions {
  /** Chart title (plain text; escaped in the SVG). */
  readonly title?: string;
  /** Width of one panel in pixels. */
  readonly width?: number;
  /** Height of one panel in pixels. */
  readonly height?: number;
  /** Also rasterise to PNG (true, or the options of {@link svgToPng}). */
  readonly png?: boolean | PngOptions;
}

/** A rendered chart. */
export interface ChartOutput {
  /** A standalone SVG document. */
  readonly svg: string;
  /** PNG bytes, when asked for. */
  readonly png?: Uint8Array;
}

/** Options for {@link svgToPng}. */
export interface PngOptions {
  /** Pixel density relative to the SVG's size. Default 2. */
  readonly scale?: number;
  /** Extra font files to load (e.g. a TTF shipped with an application). */
  readonly fontFiles?: readonly string[];
}

/** Theme shared by every chart: font, sizes, a white background (so PNGs are not transparent). */
const CHART_CONFIG = {
  font: CHART_FONT,
  background: 'white',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 10, titleFontSize: 11 },
  legend: { labelFontSize: 10, titleFontSize: 11, labelLimit: 320 },
  title: { fontSize: 13, anchor: 'start' },
} as const;

/**
 * Renders a Vega-Lite specification to SVG (and PNG when asked), with the library's chart theme. Plain objects are
 * accepted too (the chart functions build their specifications from data); Vega-Lite validates them when compiling.
 */
export async function renderVegaLite(
  spec: TopLevelSpec | Readonly<Record<string, unknown>>,
  options: Pick<ChartOptions, 'png'> = {},
): Promise<ChartOutput> {
  const config = (spec as { config?: object }).config ?? {};
  const themed = { ...spec, config: { ...CHART_CONFIG, ...config } } as unknown as TopLevelSpec;
  const view = new vega.View(vega.parse(compile(themed).spec), { renderer: 'none' });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  if (!options.png) return { svg };
  const png = await svgToPng(svg, typeof options.png === 'object' ? options.png : {});
  return { svg, png };
}

interface ResvgModule {
  Resvg: new (svg: string, options: Record<string, unknown>) => { render(): { asPng(): Uint8Array } };
}

let resvgModule: Promise<ResvgModule> | undefined;

async function loadResvg(): Promise<ResvgModule> {
  // A variable specifier keeps bundlers from pulling the native module into browser builds.
  const name = '@resvg/resvg-js';
  resvgModule ??= import(name) as Promise<ResvgModule>;
  try {
    return await resvgModule;
  } catch (err) {
    resvgModule = undefined;
    throw new BayescompError('runtime', `PNG rendering is unavailable (${name} could not be loaded)`, {
      cause: err,
    });
  }
}

/** Font files of `fonts-dejavu-core`, used when present so text renders even without a font configuration. */
const DEJAVU_FILES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
];

async function existingFiles(paths: readonly string[]): Promise<string[]> {
  // A variable specifier keeps browser bundlers from resolving a Node built-in that only the PNG path needs.
  const fsModule = 'node:fs/promises';
  const { access } = (await import(fsModule)) as typeof import('node:fs/promises');
  const found: string[] = [];
  for (const path of paths) {
    try {
      await access(path);
      found.push(path);
    } catch {
      // Missing fonts are expected on minimal systems; text then falls back to whatever fonts exist.
    }
  }
  return found;
}

/**
 * Rasterises an SVG document to PNG bytes (Node only). Text uses DejaVu Sans when installed, otherwise any system
 * font; with no fonts at all, shapes still render and text is left out rather than failing.
 */
export async function svgToPng(svg: string, options: PngOptions = {}): Promise<Uint8Array> {
  const { Resvg } = await loadResvg();
  const dejavu = await existingFiles(DEJAVU_FILES);
  const fontFiles = [...dejavu, ...(await existingFiles(options.fontFiles ?? []))];
  const font: Record<string, unknown> = { loadSystemFonts: true, fontFiles };
  if (dejavu.length > 0) {
    font.defaultFontFamily = 'DejaVu Sans';
    font.sansSerifFamily = 'DejaVu Sans';
  }
  const scale = options.scale ?? 2;
  const renderer = new Resvg(svg, {
    font,
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    logLevel: 'off',
  });
  return new Uint8Array(renderer.render().asPng());
}
