/**
 * LUO sessions (`kernel/liveupdate/luo_session.c`): named containers of preserved files.
 * Outgoing sessions are created by user space and serialized at reboot, in creation order, as
 * 80-byte `luo_session_ser` entries; incoming sessions are rebuilt from those entries on the
 * first open of `/dev/liveupdate` in the successor, retrieved by name, finished and closed
 * (luo-hugetlb-facts §2.2, §2.3).
 *
 * Storage per generation: 6.19–7.1 keep the entries in one 16-page block allocated at boot
 * (`luo_session_header_ser { count }` then up to 819 entries; ENOMEM beyond); 7.2 keeps them in a
 * kho_block chain grown one session ahead of need, and freezes the whole subsystem after a
 * successful serialization.
 *
 * @module
 */

import { type ErrnoName, KhoError } from "../errors.ts";
import {
  clearSessionSerName,
  cstr,
  LIVEUPDATE_SESSION_NAME_LENGTH,
  LUO_SESSION_HEADER_SER_LAYOUT,
  LUO_SESSION_MAX,
  LUO_SESSION_PGCNT,
  LUO_SESSION_SER_LAYOUT,
  readSessionSer,
  writeSessionSerName,
} from "../kho/abi/luo.ts";
import type { LuoGeneration } from "../kho/profiles.ts";
import { KhoBlockSet } from "../kho/block.ts";
import { PAGE_SIZE } from "../units.ts";
import { type LuoFileGlobal, LuoFileSet } from "./luo_file.ts";
import { errnoOf, LuoBlockedError, type LuoHost, pe, requireRam } from "./luo_internal.ts";

/** Where a session is in its lifecycle. */
export type LuoSessionState =
  | "created"
  | "frozen"
  | "closed"
  | "deserialized"
  | "retrieved"
  | "finished";

/** `struct luo_session`. */
export class LuoSession {
  /** The name as the kernel keeps it (`strscpy` into 64 bytes: at most 63, no NUL). */
  readonly nameBytes: Uint8Array;
  /** `retrieved`: set on an incoming session by RETRIEVE_SESSION. */
  retrieved = false;
  /** The session's files. */
  readonly files: LuoFileSet;
  /** Lifecycle state. */
  state: LuoSessionState;

  /** `luo_session_alloc(name)`. */
  constructor(name: Uint8Array, files: LuoFileSet, state: LuoSessionState) {
    const nul = name.indexOf(0);
    const len = Math.min(nul < 0 ? name.length : nul, LIVEUPDATE_SESSION_NAME_LENGTH - 1);
    this.nameBytes = name.slice(0, len);
    this.files = files;
    this.state = state;
  }

  /** The name, decoded as UTF-8. */
  get name(): string {
    return cstr(this.nameBytes);
  }

  /** Key for `strncmp(a, b, 64) == 0` lookups. */
  get key(): string {
    return nameKey(this.nameBytes);
  }
}

/** `struct luo_session_header`: one list (incoming or outgoing) and its storage. */
class SessionHeader {
  readonly list: LuoSession[] = [];
  readonly byName = new Map<string, LuoSession>();
  /** 7.2: the session block chain. */
  blockSet: KhoBlockSet | null = null;
  /** 6.19–7.1: physical address of `luo_session_header_ser`. */
  headerPa = 0;
  active = false;

  get count(): number {
    return this.list.length;
  }

  add(s: LuoSession): void {
    this.list.push(s);
    this.byName.set(s.key, s);
  }

  remove(s: LuoSession): void {
    this.list.splice(this.list.indexOf(s), 1);
    this.byName.delete(s.key);
  }
}

/** `luo_session_global`: the incoming and outgoing sessions of one boot. */
export class LuoSessionGlobal {
  readonly #host: LuoHost;
  readonly #gen: LuoGeneration;
  readonly #files: LuoFileGlobal;
  readonly #in = new SessionHeader();
  readonly #out = new SessionHeader();
  #frozen = false;
  #deserialized: { err: ErrnoName | null } | null = null;

  /** Creates the empty lists; the file registry's quiesce check now asks them. */
  constructor(host: LuoHost, gen: LuoGeneration, files: LuoFileGlobal) {
    this.#host = host;
    this.#gen = gen;
    this.#files = files;
    if (gen.store === "kho-block") {
      this.#in.blockSet = new KhoBlockSet(host, LUO_SESSION_SER_LAYOUT.size);
      this.#out.blockSet = new KhoBlockSet(host, LUO_SESSION_SER_LAYOUT.size);
    }
    files.quiesce = () => this.quiesced;
  }

  /** Outgoing sessions, in creation order. */
  get outgoing(): readonly LuoSession[] {
    return this.#out.list;
  }

  /** Incoming sessions, in handover order (after the first open). */
  get incoming(): readonly LuoSession[] {
    return this.#in.list;
  }

  /** 7.2: the outgoing session block chain. */
  get outgoingBlocks(): KhoBlockSet | null {
    return this.#out.blockSet;
  }

  /** 6.19–7.1: the outgoing `luo_session_header_ser` address. */
  get outgoingHeaderPa(): number {
    return this.#out.headerPa;
  }

  /** Whether 7.2's serialization froze the subsystem (every session call then blocks). */
  get frozen(): boolean {
    return this.#frozen;
  }

  /** `luo_session_quiesce`: no session in either list. */
  get quiesced(): boolean {
    return this.#in.count === 0 && this.#out.count === 0;
  }

  /** Throws {@link LuoBlockedError} when `luo_session_serialize_rwsem` is write-held. */
  enter(operation: string): void {
    if (this.#frozen) throw new LuoBlockedError(operation);
  }

  /**
   * `luo_session_setup_outgoing`: 6.19–7.1 allocate the 16-page session block (its address goes
   * into the LUO FDT); 7.2 only records where `sessions_pa` will be written.
   */
  setupOutgoing(): number {
    if (this.#gen.store === "kho-block") {
      this.#out.active = true;
      return 0;
    }
    this.#out.headerPa = this.#host.kho.allocPreserve(LUO_SESSION_PGCNT * PAGE_SIZE);
    this.#out.active = true;
    return this.#out.headerPa;
  }

  /**
   * `luo_session_setup_incoming(pa)` in `luo_early_startup`: 6.19–7.1 record the header; 7.2
   * restores the session chain (0: no sessions) and throws its error (which panics).
   */
  setupIncoming(pa: number): void {
    if (this.#gen.store === "kho-block") {
      if (pa === 0) return;
      this.#in.blockSet!.restore(pa);
    } else {
      this.#in.headerPa = pa;
    }
    this.#in.active = true;
  }

  /**
   * `luo_session_create(name)`: EINVAL unless the name is 1..63 bytes before a NUL within its
   * 64; ENOMEM; then the insert — 6.19–7.1: ENOMEM at 819 sessions, EEXIST for a duplicate;
   * 7.2: the block grow (ENOSPC/ENOMEM), then EEXIST. With 7.2's bug the duplicate check comes
   * after the grow and the grown block stays.
   */
  create(name: Uint8Array): LuoSession {
    const nul = name.subarray(0, LIVEUPDATE_SESSION_NAME_LENGTH).indexOf(0);
    const len = nul < 0 ? Math.min(name.length, LIVEUPDATE_SESSION_NAME_LENGTH) : nul;
    if (len === 0 || len > LIVEUPDATE_SESSION_NAME_LENGTH - 1) {
      throw new KhoError(
        "EINVAL",
        len === 0 ? "empty session name" : "session name has no NUL within 64 bytes",
      );
    }
    if (this.#host.faults.shouldFail("kzalloc:luo_session")) {
      throw new KhoError("ENOMEM", "luo_session_alloc: kzalloc");
    }
    const s = new LuoSession(name, new LuoFileSet(this.#files), "created");
    this.enter("luo_session_create");
    this.#insertOutgoing(s);
    if (this.#host.faults.shouldFail("anon_inode_getfile")) {
      this.#removeOutgoing(s);
      s.files.destroy();
      throw new KhoError("ENOMEM", "anon_inode_getfile");
    }
    return s;
  }

  /**
   * `luo_session_retrieve(name)`: the incoming session of that name (`strncmp` over 64 bytes);
   * ENOENT if none, EINVAL if already retrieved.
   */
  retrieve(name: Uint8Array): LuoSession {
    this.enter("luo_session_retrieve");
    const s = this.#in.byName.get(nameKey(name));
    if (!s) throw new KhoError("ENOENT", `no incoming session "${cstr(name)}"`);
    if (s.retrieved) throw new KhoError("EINVAL", `session "${s.name}" already retrieved`);
    s.retrieved = true;
    s.state = "retrieved";
    return s;
  }

  /**
   * `luo_session_release` (the session fd is closed): an incoming session is finished (an
   * error keeps it listed and is thrown); an outgoing one unpreserves its files and is removed,
   * shrinking the 7.2 block chain.
   */
  release(s: LuoSession): void {
    this.enter("luo_session_release");
    if (s.retrieved) {
      s.files.finish();
      this.#in.remove(s);
    } else {
      s.files.unpreserveAll();
      this.#removeOutgoing(s);
    }
    s.files.destroy();
    s.state = "closed";
  }

  /**
   * `luo_session_serialize` at reboot: per session in creation order, reserve its entry,
   * freeze its files, write its name; 6.19–7.1 then write the header count, 7.2 the chain's head
   * through `setSessionsPa` (0 without sessions) and freeze the subsystem. A failure unfreezes
   * the sessions already done (in reverse, names zeroed) and throws.
   */
  serialize(setSessionsPa: (pa: number) => void): void {
    const { mem, log } = this.#host;
    const out = this.#out;
    const blocks = out.blockSet;
    if (blocks) {
      this.#frozen = true;
      setSessionsPa(0);
    }
    const it = blocks?.iterator();
    const slot = (i: number) =>
      out.headerPa + LUO_SESSION_HEADER_SER_LAYOUT.size + i * LUO_SESSION_SER_LAYOUT.size;
    const done: number[] = [];
    let i = 0;
    try {
      for (; i < out.list.length; i++) {
        const s = out.list[i];
        const ser = it ? it.reserveEntry() : slot(i);
        if (ser === null) {
          log.warnOnOnce("luo_session_serialize", "no reserved session entry");
          throw new KhoError("ENOSPC", "luo_session_serialize: session block set exhausted");
        }
        try {
          s.files.freeze(ser);
        } catch (e) {
          it?.prev();
          throw e;
        }
        writeSessionSerName(mem, ser, s.nameBytes);
        done.push(ser);
      }
    } catch (e) {
      for (let j = i - 1; j >= 0; j--) {
        const ser = it ? it.prev()! : done[j];
        out.list[j].files.unfreeze(ser);
        clearSessionSerName(mem, ser);
      }
      this.#frozen = false;
      throw e;
    }
    if (blocks) {
      if (out.count > 0) setSessionsPa(blocks.headPa);
    } else {
      mem.writeU64(out.headerPa + LUO_SESSION_HEADER_SER_LAYOUT.count, out.count);
    }
    for (const s of out.list) s.state = "frozen";
  }

  /**
   * `luo_session_deserialize` (first open of `/dev/liveupdate`): rebuilds the incoming sessions
   * and their files; returns null or the errno, computed once and returned again on every later
   * call. On an error the sessions already made stay (leaked, as the kernel intends: "userspace
   * … trigger a reboot").
   */
  deserialize(): ErrnoName | null {
    if (this.#deserialized) return this.#deserialized.err;
    this.#deserialized = { err: null };
    const inc = this.#in;
    if (!inc.active) return null;
    let err: ErrnoName | null = null;
    if (inc.blockSet) {
      const it = inc.blockSet.iterator();
      for (let ser = it.readEntry(); ser !== null && err === null; ser = it.readEntry()) {
        err = this.#deserializeOne(ser);
      }
      inc.blockSet.destroy();
    } else {
      const host = this.#host;
      requireRam(host, inc.headerPa, LUO_SESSION_HEADER_SER_LAYOUT.size, "luo_session_deserialize");
      const count = host.mem.readU64(inc.headerPa + LUO_SESSION_HEADER_SER_LAYOUT.count);
      for (let i = 0; i < count && err === null; i++) {
        const ser = inc.headerPa + LUO_SESSION_HEADER_SER_LAYOUT.size +
          i * LUO_SESSION_SER_LAYOUT.size;
        requireRam(host, ser, LUO_SESSION_SER_LAYOUT.size, "luo_session_deserialize");
        err = this.#deserializeOne(ser);
      }
      if (err === null) {
        host.kho.restoreFree(inc.headerPa);
        inc.headerPa = 0;
      }
    }
    this.#deserialized.err = err;
    return err;
  }

  #deserializeOne(serPa: number): ErrnoName | null {
    const { mem, log, faults } = this.#host;
    const ser = readSessionSer(mem, serPa);
    if (faults.shouldFail("kzalloc:luo_session")) {
      log.warning(
        "luo",
        `Failed to allocate session [${cstr(ser.name)}] during deserialization ${pe("ENOMEM")}`,
      );
      return "ENOMEM";
    }
    const s = new LuoSession(ser.name, new LuoFileSet(this.#files), "deserialized");
    if (this.#in.byName.has(s.key)) {
      log.warning("luo", `Failed to insert session [${s.name}] ${pe("EEXIST")}`);
      s.files.destroy();
      return "EEXIST";
    }
    this.#in.add(s);
    try {
      s.files.deserialize({ files: ser.files, count: ser.count });
    } catch (e) {
      const code = errnoOf(e);
      log.warning("luo", `Failed to deserialize files for session [${s.name}] ${pe(code)}`);
      return code;
    }
    return null;
  }

  #insertOutgoing(s: LuoSession): void {
    const out = this.#out;
    const bugged = this.#host.profile.bugs.includes("luo-dup-session-empty-block");
    const dup = () => {
      if (out.byName.has(s.key)) {
        throw new KhoError("EEXIST", `session "${s.name}" exists`);
      }
    };
    if (out.blockSet) {
      if (!bugged) dup();
      out.blockSet.grow(out.count + 1);
      dup();
    } else {
      if (out.count === LUO_SESSION_MAX) {
        throw new KhoError("ENOMEM", `${LUO_SESSION_MAX} sessions: the session block is full`);
      }
      dup();
    }
    out.add(s);
  }

  #removeOutgoing(s: LuoSession): void {
    this.#out.remove(s);
    this.#out.blockSet?.shrink(this.#out.count);
  }
}

/** A map key equal for names that `strncmp(a, b, 64)` finds equal. */
function nameKey(name: Uint8Array): string {
  const n = name.subarray(0, LIVEUPDATE_SESSION_NAME_LENGTH);
  const nul = n.indexOf(0);
  let k = "";
  for (const b of nul < 0 ? n : n.subarray(0, nul)) k += String.fromCharCode(b);
  return k;
}
