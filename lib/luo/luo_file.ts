/**
 * Preserved files (`kernel/liveupdate/luo_file.c`): the registry of file handlers, each
 * session's file set, and the file lifecycle — preserve (any time before the update), freeze
 * and serialization (at reboot), deserialization (first open of `/dev/liveupdate` in the
 * successor), retrieve by token, and finish (luo-hugetlb-facts §2.2, §2.3, §2.7).
 *
 * A "file" is any object of the running kernel (the kernel's `struct file`); LUO keys it by
 * identity. Only its handler's serialized bytes cross kexec: the successor's handler rebuilds a
 * new file from `serialized_data` in `retrieve`.
 *
 * Storage per generation: 6.19–7.1 write a session's files into one 2-page block
 * (`kho_alloc_preserve(8192)` on the first preserve, 128 files at most, ENOSPC beyond); 7.2
 * keeps them in a kho_block chain of 64-byte entries grown one file ahead.
 *
 * @module
 */

import { ERRNO, type ErrnoName, KhoError } from "../errors.ts";
import {
  cstr,
  LIVEUPDATE_HNDL_COMPAT_LENGTH,
  LUO_FILE_MAX,
  LUO_FILE_PGCNT,
  LUO_FILE_SER_LAYOUT,
  LUO_SESSION_SER_LAYOUT,
  type LuoFileSetSer,
  readFileSer,
  writeFileSer,
  writeFileSetSer,
} from "../kho/abi/luo.ts";
import type { LuoGeneration } from "../kho/profiles.ts";
import { KhoBlockSet } from "../kho/block.ts";
import { PAGE_SIZE } from "../units.ts";
import type { FileOpArgs, LiveUpdateFileHandler, LuoFile, LuoSessionOps } from "./file_handler.ts";
import type { LuoFlbGlobal } from "./luo_flb.ts";
import { errnoOf, type LuoHost, pe, requireRam } from "./luo_internal.ts";

export type { FileOpArgs, LiveUpdateFileHandler, LuoFile, LuoSessionOps } from "./file_handler.ts";

/** Where a preserved file is in its lifecycle. */
export type LuoFileState = "preserved" | "frozen" | "deserialized" | "retrieved" | "failed";

/** `struct luo_file`: one preserved file in a session. */
export class LuoFileEntry {
  /** The handler. */
  readonly fh: LiveUpdateFileHandler;
  /** The user's token. */
  readonly token: bigint;
  /** The file (null in the successor until retrieved). */
  file: LuoFile | null;
  /** `serialized_data`. */
  serializedData: number;
  /** `private_data`. */
  privateData: unknown = null;
  /**
   * `retrieve_status`: 0, 1, or the errno of the failed retrieve (generations with
   * `retrieve_status` only; before it a failure leaves 0, the `retrieved == false` of 6.19–7.2).
   */
  retrieveStatus: 0 | 1 | ErrnoName = 0;
  /** Lifecycle state. */
  state: LuoFileState;
  /** Whether its handler's retrieve is running (a dependency asking for it again fails). */
  retrieving = false;
  /** The session's operations, handed to the callbacks. */
  readonly #session: LuoSessionOps;

  /** Creates the entry. */
  constructor(
    fh: LiveUpdateFileHandler,
    token: bigint,
    file: LuoFile | null,
    serializedData: number,
    state: LuoFileState,
    session: LuoSessionOps,
  ) {
    this.#session = session;
    this.fh = fh;
    this.token = token;
    this.file = file;
    this.serializedData = serializedData;
    this.state = state;
  }

  /** The callback arguments for this file. */
  args(): FileOpArgs {
    const s = this.retrieveStatus;
    return {
      handler: this.fh,
      session: this.#session,
      file: this.file,
      serializedData: this.serializedData,
      privateData: this.privateData,
      retrieveStatus: s === 0 || s === 1 ? s : -ERRNO[s],
    };
  }
}

/**
 * The handler registry and the set of files preserved by any session (`luo_file_handler_list`
 * and `luo_preserved_files`) of one boot.
 */
export class LuoFileGlobal {
  /** The kernel's services. */
  readonly host: LuoHost;
  /** The LUO generation. */
  readonly gen: LuoGeneration;
  /** FLB state, when the generation has FLB. */
  readonly flb: LuoFlbGlobal | null;
  readonly #handlers: LiveUpdateFileHandler[] = [];
  /** `luo_preserved_files`: files preserved (or retrieved) anywhere, by identity. */
  readonly preserved: Set<LuoFile> = new Set();
  /** Whether no session exists (`luo_session_quiesce`); set by the session layer. */
  quiesce: () => boolean = () => true;

  /** Creates the empty registry. */
  constructor(host: LuoHost, gen: LuoGeneration, flb: LuoFlbGlobal | null) {
    this.host = host;
    this.gen = gen;
    this.flb = flb;
  }

  /** Registered handlers, in registration order. */
  get handlers(): readonly LiveUpdateFileHandler[] {
    return this.#handlers;
  }

  /**
   * `liveupdate_register_file_handler` after the enabled check: EINVAL for a missing required
   * callback, EBUSY while sessions exist (6.19–7.1's quiesce; 7.2 takes a lock instead),
   * EEXIST for a compatible already registered.
   */
  register(fh: LiveUpdateFileHandler): void {
    for (const op of ["preserve", "unpreserve", "retrieve", "finish", "canPreserve"] as const) {
      if (typeof fh[op] !== "function") {
        throw new KhoError("EINVAL", `liveupdate_register_file_handler: no ${op}`);
      }
    }
    if (this.gen.store === "contiguous" && !this.quiesce()) {
      throw new KhoError("EBUSY", "liveupdate_register_file_handler: sessions exist");
    }
    if (this.#handlers.some((h) => h.compatible === fh.compatible)) {
      this.host.log.error(
        "luo",
        `File handler registration failed: Compatible string '${fh.compatible}' already registered.`,
      );
      throw new KhoError("EEXIST", `compatible ${fh.compatible} already registered`);
    }
    this.#handlers.push(fh);
  }

  /**
   * `liveupdate_unregister_file_handler`: EBUSY while sessions exist (6.19–7.1) or while FLBs
   * are linked to it; ENOENT if it is not registered.
   */
  unregister(fh: LiveUpdateFileHandler): void {
    if (this.gen.store === "contiguous" && !this.quiesce()) {
      throw new KhoError("EBUSY", "liveupdate_unregister_file_handler: sessions exist");
    }
    if (this.flb?.hasLinks(fh)) {
      throw new KhoError("EBUSY", "liveupdate_unregister_file_handler: FLBs registered");
    }
    const i = this.#handlers.indexOf(fh);
    if (i < 0) throw new KhoError("ENOENT", `handler ${fh.compatible} is not registered`);
    this.#handlers.splice(i, 1);
  }

  /** Whether `fh` is registered. */
  isRegistered(fh: LiveUpdateFileHandler): boolean {
    return this.#handlers.includes(fh);
  }

  /** The handler whose compatible equals the NUL-terminated bytes (`strcmp`), or null. */
  byCompatible(compat: Uint8Array): LiveUpdateFileHandler | null {
    if (compat.indexOf(0) < 0) return null; // no handler's string can match past 48 bytes
    const name = cstr(compat);
    return this.#handlers.find((h) => h.compatible === name) ?? null;
  }
}

/** `struct luo_file_set`: the files of one session. */
export class LuoFileSet implements LuoSessionOps {
  readonly #g: LuoFileGlobal;
  readonly #files: LuoFileEntry[] = [];
  /** `count`: files in the set (the FDT era's successor sets it from the handover). */
  count = 0;
  /** 7.2: the file block chain. */
  readonly blockSet: KhoBlockSet | null;
  /** 6.19–7.1: physical address of the 2-page file block, 0 when not allocated. */
  filesPa = 0;

  /** `luo_file_set_init`. */
  constructor(g: LuoFileGlobal) {
    this.#g = g;
    this.blockSet = g.gen.store === "kho-block"
      ? new KhoBlockSet(g.host, LUO_FILE_SER_LAYOUT.size)
      : null;
  }

  /** The files, in preservation (or handover) order. */
  get files(): readonly LuoFileEntry[] {
    return this.#files;
  }

  /**
   * `luo_preserve_file(file_set, token, fd)`. Errors, in the kernel's order: EEXIST (token
   * used in this session), ENOSPC (128 files, 6.19–7.1) or the block grow error (7.2),
   * EBADF (no file), the file block allocation (6.19–7.1), ENOENT (no handler accepts the
   * file), EBUSY (the file is already preserved, 7.0 on), the FLB preserve error, ENOMEM, the
   * handler's error. Every error undoes what the call did.
   */
  preserve(token: bigint, file: LuoFile | null): LuoFileEntry {
    const g = this.#g;
    const kblock = this.blockSet !== null;
    if (this.#files.some((f) => f.token === token)) {
      throw new KhoError("EEXIST", `token ${hexToken(token)} already used in this session`);
    }
    if (kblock) this.blockSet!.grow(this.count + 1);
    else if (this.count === LUO_FILE_MAX) {
      throw new KhoError("ENOSPC", `session holds ${LUO_FILE_MAX} files`);
    }
    const undo: (() => void)[] = [() => {
      if (kblock) this.blockSet!.shrink(this.count);
    }];
    try {
      if (file === null) throw new KhoError("EBADF", "preserve_fd: bad file descriptor");
      if (!kblock) {
        if (this.filesPa === 0) {
          this.filesPa = g.host.kho.allocPreserve(LUO_FILE_PGCNT * PAGE_SIZE);
        }
        undo.push(() => this.#freeFilesMem());
      }
      const fh = g.handlers.find((h) => h.canPreserve(file));
      if (!fh) throw new KhoError("ENOENT", "no file handler accepts this file");
      if (g.gen.doublePreserveCheck) {
        if (g.preserved.has(file)) throw new KhoError("EBUSY", "file already preserved");
        g.preserved.add(file);
        undo.push(() => g.preserved.delete(file));
      }
      if (g.flb) {
        g.flb.filePreserve(fh);
        undo.push(() => g.flb!.fileUnpreserve(fh));
      }
      if (g.host.faults.shouldFail("kzalloc:luo_file")) {
        throw new KhoError("ENOMEM", "luo_preserve_file: kzalloc");
      }
      const entry = new LuoFileEntry(fh, token, file, 0, "preserved", this);
      const args = entry.args();
      fh.preserve(args);
      entry.serializedData = args.serializedData;
      entry.privateData = args.privateData;
      this.#files.push(entry);
      this.count++;
      return entry;
    } catch (e) {
      for (let i = undo.length - 1; i >= 0; i--) undo[i]();
      throw e;
    }
  }

  /**
   * `luo_file_unpreserve_files` (closing an outgoing session): `unpreserve` per file, last
   * first, then the file block(s) go.
   */
  unpreserveAll(): void {
    this.#dropAll((f) => {
      f.fh.unpreserve(f.args());
      this.#g.flb?.fileUnpreserve(f.fh);
    });
    if (this.blockSet) this.blockSet.destroy();
    else this.#freeFilesMem();
  }

  /**
   * `luo_file_freeze(file_set, &ser->file_set_ser)` at reboot: per file in preservation order,
   * reserve its `luo_file_ser`, call `freeze`, write compatible, data and token; then the
   * session entry's `file_set_ser` at `sessionSerPa`. On a failure the files already frozen are
   * unfrozen and the file entries cleared, and the error is thrown.
   */
  freeze(sessionSerPa: number): void {
    if (this.count === 0) return;
    const { host } = this.#g;
    if (this.blockSet === null && this.filesPa === 0) {
      host.log.warn("luo_file_freeze", "no file block");
      throw new KhoError("EINVAL", "luo_file_freeze: no file block");
    }
    const it = this.blockSet?.iterator();
    for (let i = 0; i < this.#files.length; i++) {
      const f = this.#files[i];
      const at = it ? it.reserveEntry() : this.filesPa + i * LUO_FILE_SER_LAYOUT.size;
      if (at === null) {
        host.log.warnOnOnce("luo_file_freeze", "no reserved file entry");
        this.#unfreezeBefore(f);
        throw new KhoError("ENOSPC", "luo_file_freeze: file block set exhausted");
      }
      if (f.fh.freeze) {
        const args = f.args();
        try {
          f.fh.freeze(args);
        } catch (e) {
          const code = errnoOf(e);
          host.log.warning(
            "luo",
            `Freeze failed for token[${hexToken(f.token)}] handler[${f.fh.compatible}] err[${
              pe(code)
            }]`,
          );
          this.#unfreezeBefore(f);
          throw e;
        }
        f.serializedData = args.serializedData;
      }
      writeFileSer(host.mem, at, {
        compatible: new TextEncoder().encode(f.fh.compatible),
        data: f.serializedData,
        token: f.token,
      });
      f.state = "frozen";
    }
    writeFileSetSer(host.mem, sessionSerPa, {
      count: this.count,
      files: this.blockSet ? this.blockSet.headPa : this.filesPa,
    });
  }

  /** `luo_file_unfreeze`: unfreezes every file, clears the entries and the `file_set_ser`. */
  unfreeze(sessionSerPa: number): void {
    if (this.count === 0) return;
    this.#unfreezeBefore(null);
    this.#g.host.mem.zero(sessionSerPa + LUO_SESSION_SER_LAYOUT.files, 16);
  }

  /**
   * `luo_retrieve_file(file_set, token)`: ENOENT for an unknown token; the same file again if
   * already retrieved; otherwise the handler's `retrieve`, whose error is thrown. With
   * `retrieve_status` (linux-mm) the error is kept and returned by every later call; without it
   * (6.19–7.2) `retrieved` stays false, so a retry calls the handler again and `finish` sees a
   * file never retrieved (status 0).
   */
  retrieve(token: bigint): LuoFile {
    const f = this.#files.find((x) => x.token === token);
    if (!f) throw new KhoError("ENOENT", `no file with token ${hexToken(token)}`);
    if (f.retrieveStatus === 1) return f.file!;
    if (f.retrieveStatus !== 0) {
      throw new KhoError(f.retrieveStatus, `retrieve of token ${hexToken(token)} failed before`);
    }
    if (f.retrieving) {
      // A handler asked for a file whose retrieve is under way (a dependency loop in corrupt
      // serialized data): kholab fails it (as assumed; the kernel's locking is unverified).
      throw new KhoError("EBUSY", `token ${hexToken(token)} is being retrieved`);
    }
    const args = f.args();
    f.retrieving = true;
    try {
      f.fh.retrieve(args);
    } catch (e) {
      const code = errnoOf(e);
      if (this.#g.gen.retrieveStatus) f.retrieveStatus = code;
      f.state = "failed";
      throw e;
    } finally {
      f.retrieving = false;
    }
    f.file = args.file;
    const g = this.#g;
    if (f.file !== null && g.gen.doublePreserveCheck) {
      if (g.preserved.has(f.file)) g.host.log.warn("luo_retrieve_file", "xa_insert failed");
      else g.preserved.add(f.file);
    }
    f.retrieveStatus = 1;
    f.state = "retrieved";
    return f.file!;
  }

  /**
   * `liveupdate_get_token_outgoing`: the token of `file` among this set's outgoing files;
   * ENOENT when it is not preserved here (or the set is an incoming one).
   */
  getTokenOutgoing(file: LuoFile): bigint {
    const f = this.#files.find((x) =>
      x.file === file && (x.state === "preserved" || x.state === "frozen")
    );
    if (f === undefined) throw new KhoError("ENOENT", "file is not preserved in this session");
    return f.token;
  }

  /**
   * `liveupdate_get_file_incoming`: {@link LuoFileSet.retrieve} of `token` among this set's
   * incoming files; ENOENT for an unknown token (or an outgoing set).
   */
  getFileIncoming(token: bigint): LuoFile {
    const f = this.#files.find((x) => x.token === token);
    if (f === undefined || f.state === "preserved" || f.state === "frozen") {
      throw new KhoError("ENOENT", `no incoming file with token ${hexToken(token)}`);
    }
    return this.retrieve(token);
  }

  /**
   * `luo_file_finish`: EBUSY (nothing changed) when a handler's `canFinish` says no; otherwise
   * `finish` per file, last first, and the incoming file block(s) go back to the allocator.
   */
  finish(): void {
    if (this.count === 0) return;
    for (const f of this.#files) {
      if (f.fh.canFinish && !f.fh.canFinish(f.args())) {
        throw new KhoError("EBUSY", `token ${hexToken(f.token)} cannot finish yet`);
      }
    }
    this.#dropAll((f) => {
      f.fh.finish(f.args());
      this.#g.flb?.fileFinish(f.fh);
    });
    if (this.blockSet) this.blockSet.destroy();
    else if (this.filesPa !== 0) {
      this.#g.host.kho.restoreFree(this.filesPa);
      this.filesPa = 0;
    }
  }

  /**
   * `luo_file_deserialize(file_set, file_set_ser)` in the successor. 7.2: restores the file
   * chain (EINVAL/ENOSPC), finds each entry's handler (ENOENT, "No registered handler for
   * compatible"), and requires as many entries as `count` (EINVAL, "File count mismatch"); on
   * error everything of this set is freed. 6.19–7.1: reads `count` entries from the 2-page
   * block; an error leaves what was built (leaked).
   */
  deserialize(ser: LuoFileSetSer): void {
    const g = this.#g;
    const { host } = g;
    if (ser.files === 0) {
      if (ser.count !== 0) host.log.warn("luo_file_deserialize", `count ${ser.count}, no files`);
      return;
    }
    if (this.blockSet === null) {
      this.count = ser.count;
      this.filesPa = ser.files;
      for (let i = 0; i < ser.count; i++) {
        const at = ser.files + i * LUO_FILE_SER_LAYOUT.size;
        requireRam(host, at, LUO_FILE_SER_LAYOUT.size, "luo_file_deserialize");
        this.#deserializeOne(at);
      }
      return;
    }
    this.count = 0;
    this.blockSet.restore(ser.files);
    try {
      const it = this.blockSet.iterator();
      for (let at = it.readEntry(); at !== null; at = it.readEntry()) {
        this.#deserializeOne(at);
        this.count++;
      }
      if (this.count !== ser.count) {
        host.log.warning("luo", `File count mismatch: expected ${ser.count}, found ${this.count}`);
        throw new KhoError("EINVAL", `file count mismatch: ${ser.count} vs ${this.count}`);
      }
    } catch (e) {
      this.#files.length = 0;
      this.count = 0;
      this.blockSet.destroy();
      throw e;
    }
  }

  /** `luo_file_set_destroy`: WARNs if anything is left. */
  destroy(): void {
    const log = this.#g.host.log;
    if (this.count !== 0) log.warn("luo_file_set_destroy", `count ${this.count}`);
    if (this.#files.length !== 0) log.warn("luo_file_set_destroy", "files left");
    if (this.blockSet && !this.blockSet.isEmpty) log.warn("luo_file_set_destroy", "blocks left");
  }

  #deserializeOne(at: number): void {
    const g = this.#g;
    const ser = readFileSer(g.host.mem, at);
    const fh = g.byCompatible(ser.compatible);
    if (!fh) {
      const name = cstr(ser.compatible.subarray(0, LIVEUPDATE_HNDL_COMPAT_LENGTH));
      g.host.log.warning("luo", `No registered handler for compatible '${name}'`);
      throw new KhoError("ENOENT", `no registered handler for compatible '${name}'`);
    }
    if (g.host.faults.shouldFail("kzalloc:luo_file")) {
      throw new KhoError("ENOMEM", "luo_file_deserialize: kzalloc");
    }
    this.#files.push(new LuoFileEntry(fh, ser.token, null, ser.data, "deserialized", this));
  }

  /** `__luo_file_unfreeze(file_set, failed)`: unfreeze up to `failed`, clear the entries. */
  #unfreezeBefore(failed: LuoFileEntry | null): void {
    for (const f of this.#files) {
      if (f === failed) break;
      f.fh.unfreeze?.(f.args());
      f.state = "preserved";
    }
    if (this.blockSet) this.blockSet.clear();
    else this.#g.host.mem.zero(this.filesPa, LUO_FILE_PGCNT * PAGE_SIZE);
  }

  /** Per file, last first: `op`, then the file leaves `luo_preserved_files` and the set. */
  #dropAll(op: (f: LuoFileEntry) => void): void {
    while (this.#files.length > 0) {
      const f = this.#files.at(-1)!;
      op(f);
      if (f.file !== null) this.#g.preserved.delete(f.file);
      this.#files.pop();
      this.count--;
      this.blockSet?.shrink(this.count);
    }
  }

  /** `luo_free_files_mem`: the FDT era's file block goes once the set is empty. */
  #freeFilesMem(): void {
    if (this.count !== 0 || this.filesPa === 0) return;
    this.#g.host.kho.unpreserveFree(this.filesPa);
    this.filesPa = 0;
  }
}

/** `%#0llx` of a token. */
export function hexToken(token: bigint): string {
  return "0x" + token.toString(16);
}
