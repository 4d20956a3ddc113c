/**
 * The byte-exact FDT library: libfdt-compatible sequential writing ({@link FdtWriter}),
 * read-write editing ({@link FdtEditor}), reading ({@link FdtReader}), the strict
 * `fdt_check_full` ({@link checkFull}) and dtc-style source output ({@link toDts}).
 *
 * @module
 */

export { FDT_ERR, type FdtErrName, FdtError } from "../../errors.ts";
export * from "./format.ts";
export { FdtWriter, type FdtWriterOptions, type PlaceholderHandle } from "./writer.ts";
export { FdtEditor } from "./editor.ts";
export { type FdtProperty, FdtReader, type FdtReserveEntry } from "./reader.ts";
export {
  checkFull,
  checkFullErrno,
  type CheckFullOutcome,
  checkFullOutcome,
  checkFullVerdict,
  type LibfdtFault,
} from "./check.ts";
export {
  type DtsOptions,
  formatPropertyValue,
  guessValueKind,
  toDts,
  type ValueKind,
} from "./dts.ts";
