/**
 * The browser entry `src/browser.ts` bundles for the browser without Node.js modules. A Vite plugin records every
 * import of a Node built-in (`node:fs`, `fs`, …) with the module that asked for it, so a failure names the culprit;
 * a control bundle of a Node-only module checks that the detector does see such imports.
 */
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Plugin, type Rollup, build } from 'vite';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE_BUILTINS = new Set(builtinModules);

function isNodeBuiltin(id: string): boolean {
  return id.startsWith('node:') || NODE_BUILTINS.has(id) || NODE_BUILTINS.has(id.split('/')[0]);
}

/** Records Node built-in imports (and who imports them) and keeps them external so the build still finishes. */
function nodeImportRecorder(found: string[]): Plugin {
  return {
    name: 'record-node-imports',
    enforce: 'pre',
    resolveId(source, importer) {
      if (!isNodeBuiltin(source)) return null;
      found.push(`${source} imported by ${importer?.replace(ROOT, '') ?? '?'}`);
      return { id: source, external: true };
    },
  };
}

interface BrowserBundle {
  readonly nodeImports: string[];
  readonly chunks: Rollup.OutputChunk[];
  readonly code: string;
}

/** Bundles `entry` as a browser ES library (TF.js external), in memory. */
async function bundleForBrowser(entry: string): Promise<BrowserBundle> {
  const nodeImports: string[] = [];
  const result = await build({
    configFile: false,
    root: ROOT,
    logLevel: 'silent',
    plugins: [nodeImportRecorder(nodeImports)],
    build: {
      write: false,
      minify: false,
      reportCompressedSize: false,
      target: 'es2022',
      lib: { entry: join(ROOT, entry), formats: ['es'], fileName: 'bundle' },
      rollupOptions: { external: [/^@tensorflow\//] },
    },
  });
  const outputs = (Array.isArray(result) ? result : [result]) as Rollup.RollupOutput[];
  const chunks = outputs.flatMap((o) => o.output).filter((o): o is Rollup.OutputChunk => o.type === 'chunk');
  return { nodeImports, chunks, code: chunks.map((c) => c.code).join('\n') };
}

/** Import specifiers of Node modules left in bundled code (static, dynamic or require). */
function nodeSpecifiersIn(code: string): string[] {
  const pattern = /(?:from\s*|import\s*\(\s*|require\s*\(\s*|import\s+)["']((?:node:)?[\w/-]+)["']/g;
  return [...code.matchAll(pattern)].map((m) => m[1]).filter(isNodeBuiltin);
}

describe('browser entry (src/browser.ts)', () => {
  it('bundles for the browser with no node: imports anywhere in its module graph', async () => {
    const bundle = await bundleForBrowser('src/browser.ts');
    expect(bundle.nodeImports).toEqual([]);
    expect(nodeSpecifiersIn(bundle.code)).toEqual([]);
    expect(bundle.code).not.toContain('__vite-browser-external');
    const imports = bundle.chunks.flatMap((c) => [...c.imports, ...c.dynamicImports]);
    expect(imports.filter((i) => !i.startsWith('@tensorflow/') && !i.endsWith('.js'))).toEqual([]);
    // The core is there: backend start, Bayesian layers (registered for deserialisation), uncertainty, Laplace.
    const entry = bundle.chunks.find((c) => c.isEntry);
    expect(entry?.exports).toEqual(
      expect.arrayContaining([
        'initBackend',
        'BayesianDense',
        'BayesianConv2D',
        'withPredictionMode',
        'predictMonteCarlo',
        'uncertaintyDecomposition',
        'predictiveEntropy',
        'splitOutputActivation',
        'probitSoftmax',
        'kroneckerPosterior',
        'parseIdx',
        'Random',
      ]),
    );
    expect(bundle.code).toMatch(/registerClass\(\s*BayesianDense\s*\)/);
  });

  it('the same check reports a Node-only module (control)', async () => {
    const bundle = await bundleForBrowser('src/util/atomic-write.ts');
    expect(bundle.nodeImports).toEqual(
      expect.arrayContaining([
        'node:crypto imported by src/util/atomic-write.ts',
        'node:fs/promises imported by src/util/atomic-write.ts',
      ]),
    );
    expect(nodeSpecifiersIn(bundle.code)).toEqual(expect.arrayContaining(['node:crypto', 'node:path']));
  });
});
