/**
 * Progress of long sweeps: in a Deno Jupyter notebook an updating display (one
 * `display_data` with a `transient.display_id`, then `update_display_data`); in a terminal a
 * progress line on stderr, only when stderr is a TTY; otherwise nothing.
 *
 * @module
 */

import type { MetricsRow } from "../metrics/metrics.ts";
import { escapeHtml } from "./chart.ts";
export type { MetricsRow, MetricValue } from "../metrics/metrics.ts";

/** The part of `Deno.jupyter` progress uses. */
export interface JupyterBroadcast {
  /** Sends a message on IOPub. */
  broadcast(
    msgType: string,
    content: Record<string, unknown>,
    extra?: Record<string, unknown>,
  ): Promise<void>;
}

/**
 * `Deno.jupyter` when running inside the Jupyter kernel, else null. (Touching
 * `Deno.jupyter` outside the kernel throws, so it is probed in a `try`.)
 */
export function jupyterKernel(): JupyterBroadcast | null {
  try {
    const j = (Deno as unknown as { jupyter?: JupyterBroadcast }).jupyter;
    return j && typeof j.broadcast === "function" ? j : null;
  } catch {
    return null;
  }
}

/** Where a {@link Progress} reports. */
export type ProgressSink = "jupyter" | "tty" | "none";

let displayCounter = 0;

/**
 * A progress indicator for `total` steps.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Progress } from "./progress.ts";
 * const p = new Progress("sweep", 3, { sink: "none" });
 * p.update(1); p.update(3); await p.done();
 * assert.equal(p.text(), "sweep: 3/3 (100%)");
 * ```
 */
export class Progress {
  /** Label shown before the count. */
  readonly label: string;
  /** Number of steps. */
  readonly total: number;
  /** Where it reports. */
  readonly sink: ProgressSink;
  #done = 0;
  #detail = "";
  #displayId: string;
  #chain: Promise<void> = Promise.resolve();
  #shown = false;
  #jupyter: JupyterBroadcast | null;

  /** Starts a progress display; `sink` defaults to the notebook, else a TTY stderr, else none. */
  constructor(label: string, total: number, options: { sink?: ProgressSink } = {}) {
    this.label = label;
    this.total = total;
    this.#jupyter = jupyterKernel();
    this.sink = options.sink ??
      (this.#jupyter ? "jupyter" : Deno.stderr.isTerminal() ? "tty" : "none");
    this.#displayId = `kholab-progress-${++displayCounter}`;
  }

  /** Steps done so far. */
  get doneSteps(): number {
    return this.#done;
  }

  /** The progress line. */
  text(): string {
    const pct = this.total > 0 ? Math.floor((100 * this.#done) / this.total) : 100;
    return `${this.label}: ${this.#done}/${this.total} (${pct}%)` +
      (this.#detail ? ` ${this.#detail}` : "");
  }

  #html(): string {
    const pct = this.total > 0 ? (100 * this.#done) / this.total : 100;
    return `<div class="kholab-progress"><progress max="100" value="${pct.toFixed(0)}">` +
      `</progress> <code>${escapeHtml(this.text())}</code></div>`;
  }

  #emit(final: boolean): void {
    if (this.sink === "tty") {
      const line = `\r${this.text()}\x1b[K${final ? "\n" : ""}`;
      Deno.stderr.writeSync(new TextEncoder().encode(line));
    } else if (this.sink === "jupyter" && this.#jupyter) {
      const j = this.#jupyter;
      const type = this.#shown ? "update_display_data" : "display_data";
      this.#shown = true;
      const content = {
        data: { "text/html": this.#html(), "text/plain": this.text() },
        metadata: {},
        transient: { display_id: this.#displayId },
      };
      this.#chain = this.#chain.then(() => j.broadcast(type, content)).catch(() => {});
    }
  }

  /** Sets the steps done (and an optional detail such as the last profile) and redraws. */
  update(done: number, detail = ""): void {
    this.#done = done;
    this.#detail = detail;
    this.#emit(false);
  }

  /** Final redraw; resolves when the notebook has been sent every update. */
  async done(detail = ""): Promise<void> {
    this.#done = this.total;
    this.#detail = detail;
    this.#emit(true);
    await this.#chain;
  }

  /** An `onRow` callback for `runSweep`/`compareProfiles` that updates this progress. */
  onRow(): (row: MetricsRow, done: number, total: number) => void {
    return (row, done) =>
      this.update(done, `${row.profile}${row.sweepValue ? ` @${row.sweepValue}` : ""}`);
  }
}
