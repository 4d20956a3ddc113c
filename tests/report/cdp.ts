/**
 * A minimal Chrome DevTools Protocol client for tests: launches Debian's headless Chromium
 * with a fresh profile, attaches to a page target and sends commands over the browser's
 * WebSocket (no npm browser driver needed).
 *
 * @module
 */

/** A protocol event. */
export interface CdpEvent {
  /** Method name, e.g. `Runtime.consoleAPICalled`. */
  method: string;
  /** Parameters. */
  params: Record<string, unknown>;
  /** Session the event belongs to. */
  sessionId?: string;
}

/** A headless Chromium with one attached page. */
export class HeadlessChromium {
  readonly #proc: Deno.ChildProcess;
  readonly #ws: WebSocket;
  readonly #profileDir: string;
  #id = 0;
  readonly #pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  readonly #listeners: ((e: CdpEvent) => void)[] = [];
  /** The page session. */
  sessionId = "";
  /** Every event received. */
  readonly events: CdpEvent[] = [];

  private constructor(proc: Deno.ChildProcess, ws: WebSocket, profileDir: string) {
    this.#proc = proc;
    this.#ws = ws;
    this.#profileDir = profileDir;
    ws.onmessage = (m) => {
      const msg = JSON.parse(String(m.data));
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`CDP ${JSON.stringify(msg.error)}`));
        else p?.resolve(msg.result);
      } else {
        const e = msg as CdpEvent;
        this.events.push(e);
        for (const l of this.#listeners) l(e);
      }
    };
  }

  /** Launches `/usr/bin/chromium` headless and attaches to a new blank page. */
  static async launch(width = 1200, height = 900): Promise<HeadlessChromium> {
    const profileDir = await Deno.makeTempDir({ prefix: "kholab-chromium-" });
    const proc = new Deno.Command("/usr/bin/chromium", {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        `--user-data-dir=${profileDir}`,
        "--remote-debugging-port=0",
        `--window-size=${width},${height}`,
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const reader = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    let url: string | null = null;
    while (url === null) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`chromium exited before DevTools was ready:\n${text}`);
      text += value;
      url = /DevTools listening on (ws:\/\/\S+)/.exec(text)?.[1] ?? null;
    }
    // Keep draining stderr so Chromium never blocks on a full pipe.
    (async () => {
      try {
        while (!(await reader.read()).done) { /* drain */ }
      } catch { /* closed */ }
    })();
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
    });
    const b = new HeadlessChromium(proc, ws, profileDir);
    const { targetId } = await b.send("Target.createTarget", { url: "about:blank" }, "") as {
      targetId: string;
    };
    const { sessionId } = await b.send(
      "Target.attachToTarget",
      { targetId, flatten: true },
      "",
    ) as {
      sessionId: string;
    };
    b.sessionId = sessionId;
    return b;
  }

  /** Sends a command (to the page session unless `sessionId` is given; "" = the browser). */
  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<unknown> {
    const id = ++this.#id;
    const session = sessionId ?? this.sessionId;
    const msg: Record<string, unknown> = { id, method, params };
    if (session) msg.sessionId = session;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.send(JSON.stringify(msg));
    });
  }

  /** Resolves with the next event named `method` (or rejects after `timeoutMs`). */
  waitFor(method: string, timeoutMs = 20000): Promise<CdpEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout waiting for ${method}`)), timeoutMs);
      const l = (e: CdpEvent) => {
        if (e.method === method) {
          clearTimeout(timer);
          this.#listeners.splice(this.#listeners.indexOf(l), 1);
          resolve(e);
        }
      };
      this.#listeners.push(l);
    });
  }

  /** Evaluates an expression in the page and returns its value (by value). */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", { expression, returnByValue: true }) as {
      result: { value: T };
      exceptionDetails?: unknown;
    };
    if (r.exceptionDetails) throw new Error(`evaluate: ${JSON.stringify(r.exceptionDetails)}`);
    return r.result.value;
  }

  /** Closes the browser and removes its profile. */
  async close(): Promise<void> {
    try {
      await this.send("Browser.close", {}, "");
    } catch { /* already gone */ }
    this.#ws.close();
    try {
      this.#proc.kill("SIGKILL");
    } catch { /* exited */ }
    await this.#proc.status;
    await Deno.remove(this.#profileDir, { recursive: true }).catch(() => {});
  }
}
