import * as tf from '@tensorflow/tfjs';
import type { Command } from 'commander';
import { cpus, totalmem } from 'node:os';
import { describeBackend } from '../../runtime/backend.js';
import { packageVersion } from '../version.js';
import { startBackend } from '../common-options.js';
import { type CliIo, printJson, printTable } from '../io.js';

/** `bayescomp info`: which backend runs, with which versions, on what machine. */
export function registerInfo(program: Command, io: CliIo): void {
  program
    .command('info')
    .description('show the TF.js backend, versions and machine bayescomp runs on')
    .option('--json', 'print one JSON object')
    .action(async (options: { json?: boolean }) => {
      const backend = await startBackend(program);
      const info = {
        bayescomp: packageVersion(),
        backend: backend.name,
        backendDescription: describeBackend(backend),
        simd: backend.simd,
        threads: backend.threads,
        skippedBackends: backend.skipped,
        tfjs: tf.version.tfjs,
        node: process.versions.node,
        platform: `${process.platform}-${process.arch}`,
        cpus: cpus().length,
        memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      };
      if (options.json) printJson(io, info);
      else
        printTable(io, [
          ['bayescomp', info.bayescomp],
          ['backend', info.backendDescription],
          ...info.skippedBackends.map((s) => [`  skipped ${s.name}`, s.reason] as const),
          ['tfjs', info.tfjs],
          ['node', info.node],
          ['machine', `${info.platform}, ${info.cpus} cores, ${info.memoryGiB} GiB`],
        ]);
    });
}
