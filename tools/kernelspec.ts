/**
 * Writes a project-local Jupyter kernelspec for Deno (`kernels/kholab-deno/kernel.json`)
 * under a folder that `JUPYTER_PATH` then points at, so CI needs no `deno jupyter --install`
 * under the home directory. The kernel runs the Deno binary given (default: the one running
 * this code, `Deno.execPath()`, which also works when Deno came from npx).
 *
 * Usage: `deno run --allow-write --allow-read tools/kernelspec.ts DIR` (prints the name).
 *
 * @module
 */

/** Name of the kernelspec (`--kernel` / notebook metadata `kernelspec.name`). */
export const KERNEL_NAME = "kholab-deno";

/** The kernel.json contents for a Deno binary. */
export function kernelJson(denoPath: string = Deno.execPath()): Record<string, unknown> {
  return {
    argv: [denoPath, "jupyter", "--kernel", "--conn", "{connection_file}"],
    display_name: "Deno (kholab)",
    language: "typescript",
    env: { NO_COLOR: "1" },
  };
}

/**
 * Writes `DIR/kernels/kholab-deno/kernel.json` and returns DIR (use it as `JUPYTER_PATH`).
 */
export async function writeKernelspec(dir: string, denoPath?: string): Promise<string> {
  const kdir = `${dir}/kernels/${KERNEL_NAME}`;
  await Deno.mkdir(kdir, { recursive: true });
  await Deno.writeTextFile(`${kdir}/kernel.json`, JSON.stringify(kernelJson(denoPath), null, 2));
  return dir;
}

if (import.meta.main) {
  const dir = Deno.args[0];
  if (!dir) {
    console.error("usage: deno run -A tools/kernelspec.ts DIR");
    Deno.exit(2);
  }
  await writeKernelspec(dir);
  console.log(KERNEL_NAME);
}
