import type { Command } from 'commander';
import { loadModel } from '../../models/file-io.js';
import { writeReport } from '../../report/html-report.js';
import { startBackend } from '../common-options.js';
import { type CliIo, printJson } from '../io.js';
import { summaryFromRunDirectory } from '../report-builder.js';
import { readRunRecord, requireRunModel } from '../run-dir.js';
import { isEnsembleRecord } from '../ensemble-run.js';

/** `bayescomp report RUN_DIR`: one self-contained report.html plus summary.json for a run (or a demo directory). */
export function registerReport(program: Command, io: CliIo): void {
  program
    .command('report <runDir>')
    .description('write report.html (self-contained, inline SVG) and summary.json for a run directory')
    .option('--out <dir>', 'where to write the report (default: the run directory)')
    .option('--png', 'also write every plot as PNG and SVG under plots/')
    .option('--json', 'print one JSON object')
    .action(async (runDir: string, options: { out?: string; png?: boolean; json?: boolean }) => {
      await startBackend(program);
      // A deep-ensemble run has no single model/: its members are in members/<m>/.
      const summary = await summaryFromRunDirectory(runDir, async (d) =>
        isEnsembleRecord(await readRunRecord(d)) ? undefined : loadModel(await requireRunModel(d)),
      );
      const written = await writeReport(options.out ?? runDir, summary, { png: options.png });
      if (options.json) printJson(io, { ...written, backend: summary.backend.name });
      else {
        io.out(`report ${written.reportPath}\n`);
        for (const f of written.failedFigures) io.err(`figure ${f.id} not drawn: ${f.error}\n`);
      }
    });
}
