import cliProgress from 'cli-progress';
import type { EpochLog } from './types.js';

/** How the training loop shows progress: a bar on a terminal, one line per epoch, or nothing. */
export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

/** What the trainer tells the progress display. */
export interface ProgressReporter {
  epochStart(epoch: number, epochs: number, stepsPerEpoch: number, firstStep: number): void;
  /** `meanLoss` is the running mean over the steps read so far (undefined before the first read). */
  step(step: number, meanLoss: number | undefined): void;
  epochEnd(log: EpochLog, epochs: number): void;
  /** Ends any bar (also on errors) so the terminal is left clean. */
  close(): void;
}

/**
 * A progress reporter writing to `stream` (default stderr, keeping stdout for machine-readable output). `auto` shows a
 * `cli-progress` bar when the stream is a TTY and plain lines otherwise (logs and CI).
 */
export function createProgressReporter(
  mode: ProgressMode = 'auto',
  stream: NodeJS.WritableStream = process.stderr,
): ProgressReporter {
  const resolved = mode === 'auto' ? ((stream as NodeJS.WriteStream).isTTY ? 'bar' : 'lines') : mode;
  if (resolved === 'none') return { epochStart() {}, step() {}, epochEnd() {}, close() {} };
  if (resolved === 'lines') {
    return {
      epochStart() {},
      step() {},
      epochEnd(log, epochs) {
        stream.write(formatEpochLine(log, epochs) + '\n');
      },
      close() {},
    };
  }
  let bar: cliProgress.SingleBar | undefined;
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  return {
    epochStart(epoch, epochs, stepsPerEpoch, firstStep) {
      stop();
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: `epoch ${epoch + 1}/${epochs} |{bar}| {value}/{total} steps | loss {loss} | {duration_formatted} < {eta_formatted}`,
          hideCursor: true,
          clearOnComplete: true,
          barsize: 30,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(stepsPerEpoch, firstStep, { loss: '…' });
    },
    step(step, meanLoss) {
      bar?.update(step + 1, meanLoss === undefined ? {} : { loss: meanLoss.toPrecision(4) });
    },
    epochEnd(log, epochs) {
      stop();
      stream.write(formatEpochLine(log, epochs) + '\n');
    },
    close: stop,
  };
}

/** One line summarising an epoch, e.g. `epoch 3/10  loss 0.4123 (data 0.4101, l2 0.0022)  lr 0.001  val accuracy 0.8812  4.2 s`. */
export function formatEpochLine(log: EpochLog, epochs: number): string {
  const parts = [`epoch ${log.epoch + 1}/${epochs}`, `loss ${fmt(log.loss)}`];
  const terms = Object.entries(log.terms);
  if (terms.length > 0) parts[1] += ` (${terms.map(([k, v]) => `${k} ${fmt(v)}`).join(', ')})`;
  parts.push(`lr ${fmt(log.learningRate)}`);
  if (log.validation) parts.push(...Object.entries(log.validation).map(([k, v]) => `val ${k} ${fmt(v)}`));
  if (log.metrics) parts.push(...Object.entries(log.metrics).map(([k, v]) => `${k} ${fmt(v)}`));
  parts.push(`${log.seconds.toFixed(1)} s`);
  return parts.join('  ');
}

function fmt(v: number): string {
  return String(Number(v.toPrecision(4)));
}
