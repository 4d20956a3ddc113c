/**
 * The per-boot kernel log: printk, WARN and WARN_ON_ONCE with call-site text, readable by
 * code and tests (`dmesg`).
 *
 * @module
 */

/** printk levels kholab uses. */
export type LogLevel = "err" | "warn" | "info" | "debug";

/** One line of the kernel log. */
export interface LogEntry {
  /** Sequence number within the boot, from 0. */
  readonly seq: number;
  /** printk level. */
  readonly level: LogLevel;
  /** Subsystem prefix as the kernel prints it (`"KHO"`, `"memblock"`, …) or "". */
  readonly prefix: string;
  /** The message text. */
  readonly text: string;
  /** For WARNs: the call site (`"kho_preserve_folio"`). */
  readonly callsite?: string;
  /**
   * `"kholab"` for a line the real kernel does not print: kholab's note where kernel code
   * detects bad handed-over bytes and drops what it found without a word (see
   * {@link KernelLog.note}). Absent for the kernel's own lines.
   */
  readonly origin?: "kholab";
}

/**
 * A kernel's log buffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KernelLog } from "./dmesg.ts";
 * const log = new KernelLog();
 * log.info("KHO", "disabling KHO revival: wrong compat");
 * log.warnOnOnce("kho_restore_page", "bad magic");
 * log.warnOnOnce("kho_restore_page", "bad magic");
 * assert.equal(log.warnings().length, 1); // WARN_ON_ONCE fires once
 * ```
 */
export class KernelLog {
  readonly #entries: LogEntry[] = [];
  readonly #warnedOnce = new Set<string>();
  /** Upper bound on stored lines; older lines are dropped (like the ring buffer). */
  readonly capacity: number;
  #dropped = 0;
  #suppressed = 0;

  /** Creates an empty log holding at most `capacity` lines. */
  constructor(capacity = 100_000) {
    this.capacity = capacity;
  }

  /** Appends a line at a level. */
  printk(level: LogLevel, prefix: string, text: string, callsite?: string): void {
    this.#push({ seq: this.printed, level, prefix, text, callsite });
  }

  #push(e: LogEntry): void {
    this.#entries.push(e);
    if (this.#entries.length > this.capacity) {
      this.#entries.shift();
      this.#dropped++;
    }
  }

  /** pr_info. */
  info(prefix: string, text: string): void {
    this.printk("info", prefix, text);
  }

  /** pr_warn. */
  warning(prefix: string, text: string): void {
    this.printk("warn", prefix, text);
  }

  /** pr_err. */
  error(prefix: string, text: string): void {
    this.printk("err", prefix, text);
  }

  /** WARN(1, …): logs a warning with its call site; returns true like the macro. */
  warn(callsite: string, text = ""): true {
    this.printk("warn", "WARNING", text ? `at ${callsite}: ${text}` : `at ${callsite}`, callsite);
    return true;
  }

  /** WARN_ON_ONCE: warns only the first time for this call site in this boot; returns true. */
  warnOnOnce(callsite: string, text = ""): true {
    if (!this.#warnedOnce.has(callsite)) {
      this.#warnedOnce.add(callsite);
      this.warn(callsite, text);
    } else this.#suppressed++;
    return true;
  }

  /**
   * kholab's note (an info line marked `origin: "kholab"`, printed as `(kholab)`): where
   * kernel code finds handed-over bytes it cannot use and fails or drops them silently — the
   * real kernel prints nothing there —, so that every detected corruption leaves a line.
   * Not a kernel message: tests and tools that compare with the kernel's log skip it.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { KernelLog } from "./dmesg.ts";
   * const log = new KernelLog();
   * log.note("kho_restore_vmalloc", "chunk entry 3 beyond total_pages 2: NULL");
   * assert.equal(log.entries()[0].origin, "kholab");
   * assert.match(log.text(), /\(kholab\) kho_restore_vmalloc: chunk entry 3/);
   * ```
   */
  note(prefix: string, text: string): void {
    this.#push({ seq: this.printed, level: "info", prefix, text, origin: "kholab" });
  }

  /** Lines printed in this boot so far (dropped ones included): the next line's `seq`. */
  get printed(): number {
    return this.#entries.length + this.#dropped;
  }

  /** WARN_ON_ONCE calls that printed nothing because their call site had warned before. */
  get suppressedOnce(): number {
    return this.#suppressed;
  }

  /** All stored lines, oldest first. */
  entries(): readonly LogEntry[] {
    return this.#entries;
  }

  /** WARN lines, optionally for one call site. */
  warnings(callsite?: string): LogEntry[] {
    return this.#entries.filter((e) =>
      e.callsite !== undefined && (callsite === undefined || e.callsite === callsite)
    );
  }

  /** Lines whose text matches. */
  grep(pattern: RegExp | string): LogEntry[] {
    return this.#entries.filter((e) =>
      typeof pattern === "string" ? format(e).includes(pattern) : pattern.test(format(e))
    );
  }

  /** The log as text, one line per entry, like `dmesg`. */
  text(): string {
    return this.#entries.map(format).join("\n");
  }
}

/** Formats an entry as `[seq] prefix: text`. */
export function format(e: LogEntry): string {
  const who = e.origin === "kholab" ? "(kholab) " : "";
  return `[${String(e.seq).padStart(5)}] ${who}${e.prefix ? e.prefix + ": " : ""}${e.text}`;
}
