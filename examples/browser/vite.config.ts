import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const HERE = dirname(fileURLToPath(import.meta.url));

/** Where `@tensorflow/tfjs-backend-wasm` keeps its `.wasm` binaries (next to its Node entry point). */
function wasmDistDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
}

/**
 * Serves the wasm backend's binaries under `wasm/`: emitted into the build output, and answered by the dev server.
 * The page points `setWasmPaths` there, because the wasm backend fetches its binaries at run time and a bundler
 * does not see those fetches.
 */
export function tfjsWasmFiles(): Plugin {
  const dir = wasmDistDir();
  const files = readdirSync(dir).filter((name) => name.endsWith('.wasm'));
  return {
    name: 'bayescomp-tfjs-wasm-files',
    generateBundle() {
      for (const name of files) {
        this.emitFile({ type: 'asset', fileName: `wasm/${name}`, source: readFileSync(join(dir, name)) });
      }
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const match = /\/wasm\/([\w.-]+\.wasm)$/.exec(req.url?.split('?')[0] ?? '');
        if (!match || !files.includes(match[1])) return next();
        res.setHeader('Content-Type', 'application/wasm');
        res.end(readFileSync(join(dir, match[1])));
      });
    },
  };
}

/** The example page: `index.html` + `main.ts` here, models and sample images from `public/`, output in `dist/`. */
export default defineConfig({
  root: HERE,
  base: './',
  publicDir: join(HERE, 'public'),
  plugins: [tfjsWasmFiles()],
  build: {
    outDir: join(HERE, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
  },
  server: { fs: { allow: [join(HERE, '..', '..')] } },
});
