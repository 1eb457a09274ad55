/**
 * Headless Chromium for the browser tests: Debian's `chromium` driven by playwright-core (no browser download), a
 * fresh profile per launch, console errors collected per page, and a small static file server on 127.0.0.1.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { type BrowserContext, type ConsoleMessage, type Page, chromium } from 'playwright-core';

/** Debian's Chromium; CI installs it with `scripts/install-chromium.sh`. */
export const CHROMIUM_PATH = process.env.BAYESCOMP_CHROMIUM ?? '/usr/bin/chromium';

/** Flags for a quiet, offline, sandbox-free headless run (CI containers run as root without a GPU). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

/** Set to `1` to skip the browser tests (they then show as skipped, not passed). */
export const SKIP_ENV = 'BAYESCOMP_SKIP_BROWSER_TESTS';

/** Whether the browser tests should be skipped on request. */
export function browserTestsSkipped(): boolean {
  return process.env[SKIP_ENV] === '1';
}

/** A suite title that says why it is skipped when it is, so the skip is visible in the test output. */
export function browserSuiteTitle(title: string): string {
  return browserTestsSkipped() ? `${title} (skipped: ${SKIP_ENV}=1)` : title;
}

/** Throws a message saying how to install Chromium when it is missing (the tests must not pass without it). */
export function requireChromium(): void {
  if (existsSync(CHROMIUM_PATH)) return;
  throw new Error(
    `Chromium not found at ${CHROMIUM_PATH}: the browser tests need Debian's chromium. ` +
      `Install it with \`sudo scripts/install-chromium.sh\` (or set ${SKIP_ENV}=1 to skip these tests).`,
  );
}

/** A running browser with a fresh profile; `close()` ends it and deletes the profile. */
export interface HeadlessBrowser {
  readonly context: BrowserContext;
  /** Opens a page that records console errors and uncaught page errors into `errors`. */
  newPage(): Promise<{ page: Page; errors: string[] }>;
  close(): Promise<void>;
}

/** Launches Debian's Chromium headless with {@link CHROMIUM_ARGS} and a new `--user-data-dir`. */
export async function launchChromium(options: { timeoutMs?: number } = {}): Promise<HeadlessBrowser> {
  requireChromium();
  const profile = await mkdtemp(join(tmpdir(), 'bayescomp-chromium-'));
  let context: BrowserContext;
  try {
    // playwright passes the profile as --user-data-dir itself (it refuses the flag among `args`).
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS],
      timeout: options.timeoutMs ?? 30_000,
      viewport: { width: 1100, height: 900 },
      offline: false,
    });
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
  context.setDefaultTimeout(options.timeoutMs ?? 30_000);
  return {
    context,
    async newPage() {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('console', (message: ConsoleMessage) => {
        if (message.type() === 'error') errors.push(`console.error: ${message.text()}`);
      });
      page.on('pageerror', (error: Error) => errors.push(`page error: ${error.message}`));
      page.on('requestfailed', (request) =>
        errors.push(`request failed: ${request.url()} (${request.failure()?.errorText ?? 'unknown'})`),
      );
      return { page, errors };
    },
    async close() {
      try {
        await context.close();
      } finally {
        await rm(profile, { recursive: true, force: true });
      }
    },
  };
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** A static file server on 127.0.0.1 (random port) for one directory. */
export interface StaticServer {
  /** Base URL ending in `/`. */
  readonly url: string;
  close(): Promise<void>;
}

/** Serves `root` over HTTP on 127.0.0.1 at a random free port (GET/HEAD only, no directory listings). */
export async function serveDirectory(root: string): Promise<StaticServer> {
  const base = resolve(root);
  const server: Server = createServer((request, response) => {
    void (async () => {
      try {
        const pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://127.0.0.1').pathname);
        let file = normalize(join(base, pathname));
        if (file !== base && !file.startsWith(base + sep)) {
          response.writeHead(403).end();
          return;
        }
        if ((await stat(file).catch(() => undefined))?.isDirectory()) file = join(file, 'index.html');
        const body = await readFile(file);
        response.writeHead(200, {
          'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
          'Cache-Control': 'no-store',
        });
        response.end(request.method === 'HEAD' ? undefined : body);
      } catch {
        response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      }
    })();
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('static server has no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}/`,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
