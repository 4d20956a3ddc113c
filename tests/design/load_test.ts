import assert from "node:assert/strict";
import {
  DesignError,
  designModules,
  designOrigin,
  designUrl,
  loadDesign,
  loadedDesign,
} from "../../lib/design/load.ts";
import { getProfile } from "../../lib/kho/profiles.ts";

const MOD = new URL("../../mod.ts", import.meta.url).href;

Deno.test("loadDesign: what a file registered; missing, failing and empty files are DesignErrors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kholab-design-" });
  const file = `${dir}/d.ts`;
  await Deno.writeTextFile(
    file,
    `import { defineProfile, defineTracker, trackerFormat } from "${MOD}";\n` +
      `defineTracker({ ...trackerFormat("radix-jgg"), kind: "loaded-jgg" });\n` +
      `defineProfile({ name: "loaded-v4", base: "kho-v4", tracker: "loaded-jgg", compat: "lj" });\n`,
  );
  const d = await loadDesign(file);
  assert.deepEqual(d.trackers, ["loaded-jgg"]);
  assert.deepEqual(d.profiles, ["loaded-v4"]);
  assert.equal(d.url, designUrl(file));
  assert.equal(await loadDesign(file), d, "loaded once");
  assert.equal(loadedDesign(file), d);
  assert.equal(designOrigin("profile", "loaded-v4"), d.url);
  assert.equal(designOrigin("tracker", "loaded-jgg"), d.url);
  assert.deepEqual(designModules(["kho-v4", "loaded-v4"]), [d.url]);
  assert.equal(getProfile("loaded-v4").tracker, "loaded-jgg");

  await assert.rejects(
    loadDesign(`${dir}/none.ts`),
    (e) => e instanceof DesignError && /no such file/.test(e.message),
  );
  await Deno.writeTextFile(`${dir}/empty.ts`, "export const x = 1;\n");
  await assert.rejects(loadDesign(`${dir}/empty.ts`), /registered no tracker and no profile/);
  await Deno.writeTextFile(
    `${dir}/throws.ts`,
    `import { defineProfile } from "${MOD}";\n` +
      `defineProfile({ name: "bad-one", base: "kho-v1-6.16", tracker: "radix", compat: "z" });\n`,
  );
  await assert.rejects(
    loadDesign(`${dir}/throws.ts`),
    (e) => e instanceof DesignError && /throws\.ts: .*finalize/.test(e.message),
  );
});
