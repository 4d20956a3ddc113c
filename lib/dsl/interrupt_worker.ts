/**
 * The REPL's Ctrl-C while a command runs: a worker that turns SIGINT into a count in a shared
 * word. The command runs synchronously on the main thread, whose event loop cannot deliver a
 * signal until it ends; this worker's can, and the evaluator reads the word between steps
 * (`Session.checkInterrupt`). With a listener registered, SIGINT no longer ends the process.
 *
 * Protocol: the first message is the `SharedArrayBuffer` (one Int32 word); the worker answers
 * "ready" once it listens, and adds 1 to the word on every SIGINT.
 *
 * @module
 */

/// <reference lib="deno.worker" />

self.onmessage = (e: MessageEvent<SharedArrayBuffer>) => {
  const word = new Int32Array(e.data);
  Deno.addSignalListener("SIGINT", () => void Atomics.add(word, 0, 1));
  self.postMessage("ready");
};
