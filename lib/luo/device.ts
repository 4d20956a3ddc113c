/**
 * `/dev/liveupdate` and the session file descriptors (`include/uapi/linux/liveupdate.h`), as
 * TypeScript calls named after the ioctls: `LIVEUPDATE_IOCTL_CREATE_SESSION` →
 * {@link LiveUpdateFd.createSession}, `LIVEUPDATE_IOCTL_RETRIEVE_SESSION` →
 * {@link LiveUpdateFd.retrieveSession}, `LIVEUPDATE_SESSION_PRESERVE_FD` →
 * {@link LuoSessionFd.preserveFd}, `LIVEUPDATE_SESSION_RETRIEVE_FD` →
 * {@link LuoSessionFd.retrieveFd}, `LIVEUPDATE_SESSION_FINISH` → {@link LuoSessionFd.finish},
 * `LIVEUPDATE_SESSION_GET_NAME` (7.2) → {@link LuoSessionFd.getName}, and `close()`. There is no
 * unpreserve ioctl in 6.19–7.2: closing an outgoing session unpreserves its files.
 *
 * Errors are {@link KhoError}s with the kernel's errno (luo-hugetlb-facts §2.2, kho-facts §16.4).
 *
 * @module
 */

import { KhoError } from "../errors.ts";
import { LIVEUPDATE_SESSION_NAME_LENGTH } from "../kho/abi/luo.ts";
import type { LuoFile, LuoFileEntry } from "./luo_file.ts";
import type { LuoSession, LuoSessionGlobal, LuoSessionState } from "./luo_session.ts";

/** What a device needs from its orchestrator. */
export interface LiveUpdateDeviceHost {
  /** The session lists. */
  readonly sessions: LuoSessionGlobal;
  /** Whether GET_NAME exists (7.2). */
  readonly hasGetName: boolean;
}

/**
 * The misc device `/dev/liveupdate` (registered at late_initcall when LUO is enabled).
 * Exclusive: a second open while one is open fails with EBUSY. The first open deserializes the
 * incoming sessions; a failure returns EIO, now and on every later open.
 */
export class LiveUpdateDevice {
  readonly #host: LiveUpdateDeviceHost;
  #inUse = false;

  /** Creates the device. */
  constructor(host: LiveUpdateDeviceHost) {
    this.#host = host;
  }

  /** Whether a file descriptor of the device is open. */
  get inUse(): boolean {
    return this.#inUse;
  }

  /** `open("/dev/liveupdate")`: EBUSY when already open, EIO when deserialization failed. */
  open(): LiveUpdateFd {
    if (this.#inUse) throw new KhoError("EBUSY", "/dev/liveupdate is already open");
    this.#inUse = true;
    const err = this.#host.sessions.deserialize();
    if (err !== null) {
      this.#inUse = false;
      throw new KhoError(
        "EIO",
        `/dev/liveupdate: incoming sessions failed to deserialize (${err})`,
      );
    }
    return new LiveUpdateFd(this.#host, () => (this.#inUse = false));
  }
}

/** An open `/dev/liveupdate`. */
export class LiveUpdateFd {
  readonly #host: LiveUpdateDeviceHost;
  readonly #release: () => void;
  #closed = false;

  /** Wraps an open of the device. */
  constructor(host: LiveUpdateDeviceHost, release: () => void) {
    this.#host = host;
    this.#release = release;
  }

  /**
   * `LIVEUPDATE_IOCTL_CREATE_SESSION`: a new outgoing session. `name` fills the ioctl's 64-byte
   * `name` field (a string is UTF-8 encoded): EINVAL when empty or without a NUL in 64 bytes,
   * EEXIST for a name in use, ENOMEM/ENOSPC when the session store is full.
   */
  createSession(name: string | Uint8Array): LuoSessionFd {
    this.#check();
    const s = this.#host.sessions.create(nameField(name));
    return new LuoSessionFd(this.#host, s);
  }

  /**
   * `LIVEUPDATE_IOCTL_RETRIEVE_SESSION`: the incoming session of that name; ENOENT if there is
   * none, EINVAL if it was already retrieved.
   */
  retrieveSession(name: string | Uint8Array): LuoSessionFd {
    this.#check();
    return new LuoSessionFd(this.#host, this.#host.sessions.retrieve(nameField(name)));
  }

  /** `close()`: the device can be opened again. Session fds stay valid. */
  close(): void {
    this.#check();
    this.#closed = true;
    this.#release();
  }

  #check(): void {
    if (this.#closed) throw new KhoError("EBADF", "/dev/liveupdate fd is closed");
  }
}

/** One preserved file of a session, as tools and tests see it. */
export interface LuoFileInfo {
  /** The user's token. */
  token: bigint;
  /** The handler's compatible. */
  compatible: string;
  /** Lifecycle state. */
  state: LuoFileEntry["state"];
  /** The handler's serialized data handle. */
  serializedData: number;
}

/** A session file descriptor (`[luo_session] <name>`). */
export class LuoSessionFd {
  readonly #host: LiveUpdateDeviceHost;
  /** The kernel's session object. */
  readonly session: LuoSession;
  #closed = false;

  /** Wraps a session. */
  constructor(host: LiveUpdateDeviceHost, session: LuoSession) {
    this.#host = host;
    this.session = session;
  }

  /** The session's name. */
  get name(): string {
    return this.session.name;
  }

  /** The session's state (created, frozen, deserialized, retrieved, finished, closed). */
  get state(): LuoSessionState {
    return this.session.state;
  }

  /** The session's files. */
  files(): LuoFileInfo[] {
    return this.session.files.files.map((f) => ({
      token: f.token,
      compatible: f.fh.compatible,
      state: f.state,
      serializedData: f.serializedData,
    }));
  }

  /**
   * `LIVEUPDATE_SESSION_PRESERVE_FD`: preserves `file` under `token` (a u64). Outgoing sessions
   * only (EINVAL). `null` stands for a bad descriptor (EBADF). Other errors: EEXIST (token in
   * use), ENOENT (no handler accepts the file), EBUSY (the file is already preserved), ENOSPC,
   * ENOMEM, the handler's error.
   */
  preserveFd(file: LuoFile | null, token: number | bigint): void {
    this.#ioctl("LIVEUPDATE_SESSION_PRESERVE_FD", "outgoing");
    this.session.files.preserve(u64Token(token), file);
  }

  /**
   * `LIVEUPDATE_SESSION_RETRIEVE_FD`: the file preserved under `token`, rebuilt by its handler
   * (the same file again on a second call). Retrieved sessions only (EINVAL). ENOENT for an
   * unknown token; a failed retrieve's error, now and on later calls.
   */
  retrieveFd(token: number | bigint): LuoFile {
    this.#ioctl("LIVEUPDATE_SESSION_RETRIEVE_FD", "incoming");
    return this.session.files.retrieve(u64Token(token));
  }

  /**
   * `LIVEUPDATE_SESSION_FINISH`: finishes every file (EBUSY, nothing changed, if a handler
   * cannot finish yet). Retrieved sessions only (EINVAL).
   */
  finish(): void {
    this.#ioctl("LIVEUPDATE_SESSION_FINISH", "incoming");
    this.session.files.finish();
    this.session.state = "finished";
  }

  /** `LIVEUPDATE_SESSION_GET_NAME` (7.2; EINVAL before, where the ioctl does not exist). */
  getName(): string {
    if (!this.#host.hasGetName) {
      throw new KhoError("EINVAL", "LIVEUPDATE_SESSION_GET_NAME does not exist in this kernel");
    }
    this.#ioctl("LIVEUPDATE_SESSION_GET_NAME", "any");
    return this.session.name;
  }

  /**
   * `close()` (`luo_session_release`): an outgoing session unpreserves its files and is gone; an
   * incoming one is finished first (its error is thrown and it stays listed, though the
   * descriptor is gone).
   */
  close(): void {
    if (this.#closed) throw new KhoError("EBADF", "session fd is closed");
    this.#closed = true;
    this.#host.sessions.release(this.session);
  }

  #ioctl(name: string, type: "incoming" | "outgoing" | "any"): void {
    if (this.#closed) throw new KhoError("EBADF", `${name}: session fd is closed`);
    if (
      type === "incoming" && !this.session.retrieved ||
      type === "outgoing" && this.session.retrieved
    ) {
      throw new KhoError(
        "EINVAL",
        `${name} on an ${type === "incoming" ? "outgoing" : "incoming"} session`,
      );
    }
    this.#host.sessions.enter(name);
  }
}

/** The 64-byte `name` field of the create/retrieve ioctls. */
function nameField(name: string | Uint8Array): Uint8Array {
  const bytes = typeof name === "string" ? new TextEncoder().encode(name) : name;
  const field = new Uint8Array(LIVEUPDATE_SESSION_NAME_LENGTH);
  field.set(bytes.subarray(0, LIVEUPDATE_SESSION_NAME_LENGTH));
  return field;
}

/** A token as the ioctl's `__aligned_u64` (RangeError outside 0..2^64−1). */
export function u64Token(token: number | bigint): bigint {
  const t = typeof token === "bigint" ? token : Number.isSafeInteger(token) ? BigInt(token) : -1n;
  if (t < 0n || t >= 1n << 64n) throw new RangeError(`token ${token}: a u64`);
  return t;
}
