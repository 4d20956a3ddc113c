/**
 * Writes a project-local Jupyter kernelspec for Deno (`kernels/kholab-deno/kernel.json`)
 * under a folder that `JUPYTER_PATH` then points at, so CI needs no `deno jupyter --install`
 * under the home directory. The kernel runs the Deno binary given (default: the one running
 * this code, `Deno.execPath()`, which also works when Deno came from npx).
 *
 * Usage: `deno run --allow-write --allow-read tools/kernelspec.ts [--name NAME] DIR` (prints
 * the name; `--name deno` for opening the notebooks in Jupyter, see the README).
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

/** The kernel name the notebooks record in their metadata (Deno's own: `deno`). */
export const NOTEBOOK_KERNEL_NAME = "deno";

/**
 * Writes `DIR/kernels/NAME/kernel.json` (default name `kholab-deno`) and returns DIR (use it
 * as `JUPYTER_PATH`). Named `deno`, Jupyter opens the notebooks on it without asking.
 */
export async function writeKernelspec(
  dir: string,
  denoPath?: string,
  name: string = KERNEL_NAME,
): Promise<string> {
  const kdir = `${dir}/kernels/${name}`;
  await Deno.mkdir(kdir, { recursive: true });
  await Deno.writeTextFile(`${kdir}/kernel.json`, JSON.stringify(kernelJson(denoPath), null, 2));
  return dir;
}

if (import.meta.main) {
  const args = [...Deno.args];
  let name = KERNEL_NAME;
  const i = args.indexOf("--name");
  if (i >= 0) [, name] = args.splice(i, 2);
  const dir = args[0];
  if (!dir || args.length !== 1 || !/^[a-z0-9._-]+$/.test(name ?? "")) {
    console.error("usage: deno run -A tools/kernelspec.ts [--name NAME] DIR");
    Deno.exit(2);
  }
  await writeKernelspec(dir, undefined, name);
  console.log(name);
}
