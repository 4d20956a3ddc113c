import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { InputFileError, isGzip, readInputFile } from "../../lib/scenario/input_file.ts";

const LIMITS = { maxBytes: 1 << 16, maxTextBytes: 1 << 16 };

function withTemp(fn: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync();
  try {
    fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof InputFileError, String(e));
    return e.code;
  }
  return "none";
}

Deno.test("input file: plain and gzip (by magic bytes, whatever the name)", () => {
  withTemp((dir) => {
    const text = new TextEncoder().encode("0x200 9\n");
    Deno.writeFileSync(`${dir}/plain.gz`, text);
    Deno.writeFileSync(`${dir}/packed.txt`, gzipSync(text));
    const plain = readInputFile(`${dir}/plain.gz`, LIMITS);
    assert.equal(plain.gzip, false);
    assert.deepEqual(plain.bytes, text);
    const packed = readInputFile(`${dir}/packed.txt`, LIMITS);
    assert.equal(packed.gzip, true);
    assert.deepEqual(packed.bytes, text);
    assert.ok(isGzip(gzipSync(text)) && !isGzip(text) && !isGzip(new Uint8Array([0x1f])));
  });
});

Deno.test("input file: bounded before work — missing, not regular, too big, bombs, bad gzip", () => {
  withTemp((dir) => {
    assert.equal(code(() => readInputFile(`${dir}/none`, LIMITS)), "ENOENT");
    assert.equal(code(() => readInputFile(dir, LIMITS)), "EINVAL");
    assert.equal(code(() => readInputFile("/dev/zero", LIMITS)), "EINVAL");
    Deno.writeFileSync(`${dir}/big`, new Uint8Array(LIMITS.maxBytes + 1));
    assert.equal(code(() => readInputFile(`${dir}/big`, LIMITS)), "EFBIG");
    // 16 MiB of zeros compress to a few KiB: the cap stops the decompression.
    Deno.writeFileSync(`${dir}/bomb`, gzipSync(new Uint8Array(16 << 20)));
    assert.ok(Deno.statSync(`${dir}/bomb`).size < LIMITS.maxBytes);
    assert.equal(code(() => readInputFile(`${dir}/bomb`, LIMITS)), "EFBIG");
    const gz = gzipSync(new TextEncoder().encode("0 0\n".repeat(100)));
    Deno.writeFileSync(`${dir}/cut`, gz.subarray(0, gz.length - 6));
    assert.equal(code(() => readInputFile(`${dir}/cut`, LIMITS)), "EINVAL");
    const e = (() => {
      try {
        readInputFile(`${dir}/cut`, LIMITS);
      } catch (e) {
        return e as Error;
      }
    })()!;
    assert.match(e.message, /cut: not a valid gzip stream/);
  });
});
