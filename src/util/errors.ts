/**
 * Error kinds a user can act on. The CLI maps each code to an exit status and prints the message on one line,
 * so messages name the file (when there is one) and the problem, never a stack trace.
 */
export type ErrorCode =
  /** A file exists but its content is malformed (IDX, model.json, weights, CSV, checkpoint). */
  | 'bad-format'
  /** A file or dataset could not be found. */
  | 'not-found'
  /** Options that cannot work together or values out of range. */
  | 'bad-config'
  /** Tensor shapes that do not fit the model or each other. */
  | 'bad-shape'
  /** Training produced NaN or Inf. */
  | 'diverged'
  /** A network fetch failed or a checksum did not match. */
  | 'network'
  /** The requested backend or kernel is unavailable. */
  | 'runtime'
  /** A computation would need more memory than its configured limit (e.g. a full-covariance Laplace). */
  | 'resource-limit'
  /** The user stopped a command (SIGINT/SIGTERM); what it could save is saved (e.g. a checkpoint to resume from). */
  | 'interrupted';

/** The one error type the library throws for problems caused by its input or environment. */
export class BayescompError extends Error {
  /** Machine-readable category, see {@link ErrorCode}. */
  readonly code: ErrorCode;
  /** The file the problem is in, when there is one. */
  readonly file?: string;

  constructor(code: ErrorCode, message: string, options: { file?: string; cause?: unknown } = {}) {
    super(options.file ? `${options.file}: ${message}` : message, { cause: options.cause });
    this.name = 'BayescompError';
    this.code = code;
    this.file = options.file;
  }
}

/** Exit status for each error code; 1 is reserved for unexpected failures and 2 for command-line usage errors. */
export const EXIT_CODES: Readonly<Record<ErrorCode, number>> = {
  'bad-format': 3,
  'not-found': 4,
  'bad-config': 2,
  'bad-shape': 5,
  diverged: 6,
  network: 7,
  runtime: 8,
  'resource-limit': 9,
  // 128 + SIGINT, as shells report a process ended by Ctrl-C.
  interrupted: 130,
};

/** Throws a `bad-config` error unless `condition` holds; for validating user options. */
export function requireConfig(condition: boolean, message: string): asserts condition {
  if (!condition) throw new BayescompError('bad-config', message);
}
