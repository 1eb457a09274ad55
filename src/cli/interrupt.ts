import type { CliIo } from './io.js';

/** The signals a long command stops cleanly on: Ctrl-C, and the polite kill of `kill`, systemd or a CI timeout. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** Which signal stopped a command, once one has. */
export interface InterruptState {
  readonly signal: AbortSignal;
  /** `SIGINT` or `SIGTERM` once received. */
  readonly received: () => string | undefined;
}

/** A listener for SIGINT/SIGTERM; `dispose` removes it. */
export interface InterruptListener extends InterruptState {
  dispose(): void;
}

/**
 * Listens for SIGINT and SIGTERM: the first aborts `signal`, so that work can stop at a safe point (the training loop
 * finishes its step and writes a checkpoint); a second exits at once with status 130, for a user who does not want to
 * wait. Call `dispose` when the work settles, so the process's default behaviour returns (and in-process tests keep
 * no listeners).
 */
export function listenForInterrupt(io: CliIo): InterruptListener {
  const controller = new AbortController();
  let received: string | undefined;
  const onSignal = (name: string) => {
    if (received) {
      io.err(`bayescomp: second ${name}: exiting without a checkpoint\n`);
      process.exit(130);
    }
    received = name;
    io.err(
      `bayescomp: ${name} received: stopping after the current step and writing a checkpoint ` +
        '(send it again to quit at once)\n',
    );
    controller.abort();
  };
  for (const name of STOP_SIGNALS) process.on(name, onSignal);
  return {
    signal: controller.signal,
    received: () => received,
    dispose: () => {
      for (const name of STOP_SIGNALS) process.off(name, onSignal);
    },
  };
}

/** Runs `work` with {@link listenForInterrupt}'s signal, removing the listeners when it settles. */
export async function withInterruption<T>(
  io: CliIo,
  work: (state: InterruptState) => Promise<T>,
): Promise<T> {
  const listener = listenForInterrupt(io);
  try {
    return await work(listener);
  } finally {
    listener.dispose();
  }
}
