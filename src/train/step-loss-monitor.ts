import * as tf from '@tensorflow/tfjs';

/** Where the loss first stopped being finite, and the last finite value before it. */
export interface LossDivergence {
  readonly epoch: number;
  readonly step: number;
  readonly value: number;
  readonly lastFinite?: { readonly epoch: number; readonly step: number; readonly loss: number };
}

interface PendingStep {
  readonly values: tf.Tensor1D;
  readonly epoch: number;
  readonly step: number;
}

/**
 * Collects each step's `[loss, ...terms]` as a device tensor and reads them in bulk: one `stack` and one read per
 * flush instead of a device sync per step (which stalls GPU backends; on wasm/cpu reads are cheap but still cost a
 * round of JS work per step). Each flush checks every collected loss for NaN/Inf, so divergence is found within one
 * flush interval and attributed to its exact step. Sums are accumulated in float64 in JavaScript.
 */
export class StepLossMonitor {
  private pending: PendingStep[] = [];
  private lastFinite: LossDivergence['lastFinite'];
  /** Sum of the losses flushed since {@link resetSums}. */
  lossSum = 0;
  /** Sum of each term flushed since {@link resetSums}. */
  termSums: Record<string, number> = {};
  /** Steps flushed since {@link resetSums}. */
  steps = 0;

  /** @param termNames The objective's term names, in the order of the values after the loss. */
  constructor(readonly termNames: readonly string[]) {
    this.resetSums();
  }

  /** Number of steps collected but not yet read. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Takes ownership of one step's `[loss, ...terms]` vector (kept out of any tidy scope by the caller). */
  push(values: tf.Tensor1D, epoch: number, step: number): void {
    this.pending.push({ values, epoch, step });
  }

  /** Reads the loss of the most recently pushed step (a device sync); for callbacks that ask for it. */
  async readLatestLoss(): Promise<number> {
    const last = this.pending[this.pending.length - 1];
    if (!last) return this.lastFinite?.loss ?? NaN;
    const data = await last.values.data();
    return data[0];
  }

  /**
   * Reads every pending step, adds them to the sums and frees their tensors. Returns the first step whose loss is
   * NaN or ±Inf (its values are not added), or undefined when all are finite.
   */
  async flush(): Promise<LossDivergence | undefined> {
    if (this.pending.length === 0) return undefined;
    const steps = this.pending;
    this.pending = [];
    const stacked = tf.stack(steps.map((s) => s.values));
    const width = 1 + this.termNames.length;
    let data: Float32Array;
    try {
      data = (await stacked.data()) as Float32Array;
    } finally {
      tf.dispose([stacked, ...steps.map((s) => s.values)]);
    }
    for (let i = 0; i < steps.length; i++) {
      const loss = data[i * width];
      if (!Number.isFinite(loss)) {
        return { epoch: steps[i].epoch, step: steps[i].step, value: loss, lastFinite: this.lastFinite };
      }
      this.lossSum += loss;
      for (let k = 0; k < this.termNames.length; k++)
        this.termSums[this.termNames[k]] += data[i * width + 1 + k];
      this.steps++;
      this.lastFinite = { epoch: steps[i].epoch, step: steps[i].step, loss };
    }
    return undefined;
  }

  /** Starts new sums (at an epoch boundary), optionally from a checkpoint's partial sums. */
  resetSums(from?: { steps: number; lossSum: number; termSums: Readonly<Record<string, number>> }): void {
    this.lossSum = from?.lossSum ?? 0;
    this.steps = from?.steps ?? 0;
    this.termSums = Object.fromEntries(this.termNames.map((k) => [k, from?.termSums[k] ?? 0]));
  }

  /** Frees any pending tensors (when the run ends abnormally). */
  dispose(): void {
    tf.dispose(this.pending.map((s) => s.values));
    this.pending = [];
  }
}
