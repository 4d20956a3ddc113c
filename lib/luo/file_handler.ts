/**
 * The file handler interface (`struct liveupdate_file_handler` and
 * `struct liveupdate_file_op_args` of `include/linux/liveupdate.h`): what a kernel subsystem
 * implements to let LUO preserve its files — memfd (memfd-v1/v2, `lib/clients/memfd_luo.ts`),
 * guest_memfd and its VM (`lib/clients/guest_memfd_luo.ts`, `lib/clients/kvm_luo.ts`), HugeTLB
 * memfds later.
 *
 * @module
 */

/** A file of the running kernel (`struct file *`): any object, compared by identity. */
export type LuoFile = object;

/**
 * What a handler may ask of the session that holds its file (`struct liveupdate_session *`,
 * `args->session`): the in-kernel API for a file that depends on another file of the same
 * session — a guest_memfd on its VM's file (luo-hugetlb-facts §4.4). The LUO threads of
 * 2025-11 show `liveupdate_get_token_outgoing` and `liveupdate_get_file_incoming` next to FLB;
 * in which release each is present is **[UNVERIFIED]**: kholab offers them in every LUO
 * generation, and only the guest_memfd proposal's handlers call them.
 */
export interface LuoSessionOps {
  /**
   * `liveupdate_get_token_outgoing(s, file, &token)`: the token under which `file` is
   * preserved in this (outgoing) session; ENOENT when it is not.
   */
  getTokenOutgoing(file: LuoFile): bigint;
  /**
   * `liveupdate_get_file_incoming(s, token, &file)`: the file preserved under `token` in this
   * (incoming) session, retrieved through its handler first if it was not yet; ENOENT for an
   * unknown token, the handler's error when its retrieve fails.
   */
  getFileIncoming(token: bigint): LuoFile;
}

/** Arguments of the file handler callbacks (`struct liveupdate_file_op_args`). */
export interface FileOpArgs {
  /** The handler. */
  readonly handler: LiveUpdateFileHandler;
  /** The session holding the file (`args->session`). */
  readonly session: LuoSessionOps;
  /** The file: given to preserve/unpreserve/freeze/unfreeze/can_finish/finish; set by retrieve. */
  file: LuoFile | null;
  /**
   * The u64 handle of the handler's serialized state (e.g. the physical address of a
   * `memfd_luo_ser`): set by preserve, may be changed by freeze, handed to the successor's
   * retrieve and finish. A number (exact below 2^53; physical addresses always are).
   */
  serializedData: number;
  /** Runtime state from preserve (never handed over), for unpreserve/freeze/unfreeze. */
  privateData: unknown;
  /**
   * Successor only: 1 after a successful retrieve, else 0 — or, in generations with
   * `retrieve_status` (linux-mm), the negative errno of a failed retrieve. 6.19–7.2 pass only
   * `retrieved`: a failed retrieve leaves 0 here.
   */
  retrieveStatus: number;
}

/**
 * `struct liveupdate_file_handler`: a compatible string (stored in each `luo_file_ser`, at most
 * 47 bytes) and the callbacks. Errors are thrown as {@link KhoError}s with the kernel's errno.
 *
 * The memfd handler (memfd-v1/v2, `lib/clients/memfd_luo.ts`) is one: `canPreserve` accepts
 * shmem memfds, `preserve` pins and preserves the folios and writes its `memfd_luo_ser`,
 * `retrieve` builds a new file. Handlers above the boot layer register after boot, as a module
 * would (the boot's `modules` option; before the first open of `/dev/liveupdate`).
 */
export interface LiveUpdateFileHandler {
  /** The compatible matched by `strcmp` in the successor (e.g. `"memfd-v2"`). */
  readonly compatible: string;
  /** Whether this handler takes `file` (the first handler that says yes wins). */
  canPreserve(file: LuoFile): boolean;
  /** Saves the file's state; sets `serializedData` (and `privateData`). */
  preserve(args: FileOpArgs): void;
  /** Undoes preserve (the session was closed before the update). */
  unpreserve(args: FileOpArgs): void;
  /** Optional: last chance at reboot; may update `serializedData`. Throwing aborts the reboot. */
  freeze?(args: FileOpArgs): void;
  /** Optional: undoes freeze when the reboot is aborted. */
  unfreeze?(args: FileOpArgs): void;
  /** Successor: rebuilds the file from `serializedData`; sets `file`. */
  retrieve(args: FileOpArgs): void;
  /** Optional: successor, may veto finish (EBUSY). */
  canFinish?(args: FileOpArgs): boolean;
  /** Successor: releases what LUO still holds; discards the state of a file never retrieved. */
  finish(args: FileOpArgs): void;
}
