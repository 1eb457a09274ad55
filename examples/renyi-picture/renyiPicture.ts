/**
 * Seed 000's "Rényi picture": a 2-D Bayesian linear regression with a strongly correlated exact posterior, and the
 * factorised Gaussians that the Rényi objective fits for α from +10 (mode-seeking) through 1 (the ELBO), 0.5, 0 to
 * −∞ (mass-covering). Writes the figure's data (no plotting here):
 *
 * - `renyi-picture.json`: the exact posterior, the K → ∞ (exact D_α) optimum for each α, and Monte-Carlo VR-α fits
 *   with K samples for the α where they are well defined;
 * - `renyi-picture-ellipses.csv`: points of the 2-σ ellipse of each member (`series,alpha,x,y`), for a line plot.
 *
 * Run: `npx tsx examples/renyi-picture/renyiPicture.ts [outputDir]` (default `runs/renyi-picture`).
 */
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { initBackend } from '../../src/runtime/backend.js';
import { writeFileAtomic, writeJsonAtomic } from '../../src/util/atomic-write.js';
import { renyiOptimalFactorisedStd } from '../../src/variational/objectives/gaussianRenyiDivergence.js';
import { correlatedRegression, renyiPicture } from '../../src/variational/objectives/renyiPicture.js';

const EXACT_ALPHAS = [10, 1, 0.5, 0, -Infinity];
// Monte-Carlo fits of the VR bound: for α ≤ 0 their optimum depends strongly on K (and for finite α < 0 the exact
// divergence has no optimum at all), so the picture's α ≤ 0 members come from the exact limit.
const MONTE_CARLO_ALPHAS = [10, 1, 0.5];
const SAMPLES = 30;

function ellipse(mean: readonly number[], cov: number[][], points = 100): Array<[number, number]> {
  // 2-σ ellipse: mean + 2·L·(cos t, sin t) with L the Cholesky factor of cov.
  const l00 = Math.sqrt(cov[0][0]);
  const l10 = cov[1][0] / l00;
  const l11 = Math.sqrt(cov[1][1] - l10 * l10);
  return Array.from({ length: points + 1 }, (_, i) => {
    const t = (2 * Math.PI * i) / points;
    const [u, v] = [2 * Math.cos(t), 2 * Math.sin(t)];
    return [mean[0] + l00 * u, mean[1] + l10 * u + l11 * v];
  });
}

async function main(): Promise<void> {
  const outputDir = process.argv[2] ?? join('runs', 'renyi-picture');
  await initBackend();
  const problem = correlatedRegression();
  const cov = problem.posteriorCovariance.map((row) => [...row]);
  const exact = EXACT_ALPHAS.map((alpha) => ({
    alpha,
    std: renyiOptimalFactorisedStd(problem.posteriorCovariance, alpha),
  }));
  const monteCarlo = renyiPicture(problem, MONTE_CARLO_ALPHAS, { samples: SAMPLES });
  const label = (alpha: number) => (Number.isFinite(alpha) ? String(alpha) : alpha > 0 ? 'inf' : '-inf');
  const rows = ['series,alpha,x,y'];
  for (const [x, y] of ellipse(problem.posteriorMean, cov)) rows.push(`exact-posterior,,${x},${y}`);
  for (const member of exact) {
    const diag = [
      [member.std[0] ** 2, 0],
      [0, member.std[1] ** 2],
    ];
    for (const [x, y] of ellipse(problem.posteriorMean, diag))
      rows.push(`d-alpha-optimum,${label(member.alpha)},${x},${y}`);
  }
  for (const fit of monteCarlo) {
    const diag = [
      [fit.std[0] ** 2, 0],
      [0, fit.std[1] ** 2],
    ];
    for (const [x, y] of ellipse(fit.mean, diag)) rows.push(`vr-monte-carlo,${label(fit.alpha)},${x},${y}`);
  }
  await mkdir(outputDir, { recursive: true });
  await writeJsonAtomic(join(outputDir, 'renyi-picture.json'), {
    problem: { n: problem.xs.length, noiseStd: problem.noiseStd, priorStd: problem.priorStd },
    exactPosterior: { mean: problem.posteriorMean, covariance: cov },
    dAlphaOptimum: exact.map((m) => ({ alpha: label(m.alpha), std: m.std })),
    vrMonteCarlo: monteCarlo.map((f) => ({
      alpha: label(f.alpha),
      samples: SAMPLES,
      mean: f.mean,
      std: f.std,
      bound: f.bound,
    })),
  });
  await writeFileAtomic(join(outputDir, 'renyi-picture-ellipses.csv'), `${rows.join('\n')}\n`);
  for (const m of exact) console.log(`α=${label(m.alpha)}: std ${m.std.map((s) => s.toFixed(4)).join(', ')}`);
  console.log(`wrote ${join(outputDir, 'renyi-picture.json')} and renyi-picture-ellipses.csv`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
