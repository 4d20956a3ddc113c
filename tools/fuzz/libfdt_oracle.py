#!/usr/bin/python3
"""libfdt_oracle.py - Debian's libfdt (python3-libfdt) as a long-lived batch oracle for the
FDT fuzz target and tests.

Run with /usr/bin/python3. Requests arrive on stdin, answers leave on stdout, both binary
(all integers big-endian):

  request  = kind:u8 count:u32 { len:u32 bytes[len] } * count     kind 'C', 'E', 'F', 'Q'
  'C' answer = code:u8 * count          fdt_check_full(blob, len(blob))
  'E' answer = { len:u32 record[len] } * count    the edit scripts below, buffers as digests
  'F' answer = the same with whole buffers (to show where a digest differs)
  'I' answer = as 'E', each blob in a worker of its own
  'Q' ends the process

A code is 0 (OK), -err for a libfdt error (1..19), HANG (0xfe) or CRASH (0xff). libfdt 1.6.1
loops forever on some property lengths and dereferences NULL on some pre-v16 blobs, so each
batch runs in a forked worker that reports item by item. Before each item the worker arms a
CPU-time timer (ITIMER_PROF, HANG_CPU_S): an item that spins that long is killed by SIGPROF
and gets HANG (a valid check of a 64 KiB blob takes well under a millisecond, so the margin
is wide, and CPU time does not run while a busy machine keeps the worker waiting); a worker
that dies of anything else gets CRASH. A new worker then carries on with the next item. One
fork per batch keeps a batch of thousands of blobs at pylibfdt speed.

Editing a blob can make libfdt write outside its buffer (memory corruption that may only
show in a later item of the same worker): the caller sends the blobs where it expects that
(kholab marks them) as 'I', one worker per blob.

Edit scripts (compared on blobs fdt_check_full accepts; tools/fuzz/fdt_edits.ts is the same
on kholab's side): for each script letter in SCRIPTS, on a fresh copy of the blob followed by
EXTRA zero bytes: fdt_open_into(buf, buf, len(buf)), the script's operations, fdt_pack. The
n-th node is found with fdt_next_node from offset 0 (n = 0 is offset 0), again before every
operation, so offsets follow the edits.
  D  fdt_delprop(node, name)                  for nodes 0..NODES-1, names NAMES
  N  fdt_nop_property(node, name)             same
  P  fdt_setprop(node, name, VALUE)           same
  I  fdt_setprop_inplace_u32(node, name, U32) same
  A  fdt_add_subnode(node, "kho")             for nodes 0..NODES-1
  X  fdt_del_node(node)                       for nodes NODES-1 down to 0
  Y  fdt_nop_node(node)                       for nodes NODES-1 down to 0
A record is, per script: count:u16, one code per operation, buflen:u32, then crc32:u32 of the
whole buffer ('E', zlib's crc32) or the whole buffer ('F'); or the single byte HANG / CRASH
when the worker hung or died on this blob.
"""
import os
import select
import signal
import struct
import sys
import traceback
import zlib

import libfdt

HANG = 0xFE
CRASH = 0xFF
HANG_CPU_S = 0.02
STALL_S = 60.0  # wall-clock backstop: a worker silent this long (not spinning) is killed

NAMES = ["compatible", "fdt", "preserved-memory-map", "start", "size", "magic"]
NODES = 3
SCRIPTS = "DNPIAXY"
VALUE = bytes([1, 2, 3, 4, 5])
U32 = 0x11223344
EXTRA = 64


def code(r):
    return 0 if r >= 0 else -r


def check(blob):
    buf = bytearray(blob)
    return bytes([code(libfdt.fdt_check_full(buf, len(buf)))])


def node_at(buf, n):
    off, depth = 0, 0
    for _ in range(n):
        off, depth = libfdt.fdt_next_node(buf, off, depth)
        if off < 0:
            return off
    return off


def run_script(blob, letter, full):
    buf = bytearray(blob) + bytearray(EXTRA)
    res = [code(libfdt.fdt_open_into(buf, buf, len(buf)))]
    if letter in "DNPI":
        for n in range(NODES):
            for name in NAMES:
                node = node_at(buf, n)
                if letter == "D":
                    r = libfdt.fdt_delprop(buf, node, name)
                elif letter == "N":
                    r = libfdt.fdt_nop_property(buf, node, name)
                elif letter == "P":
                    r = libfdt.fdt_setprop(buf, node, name, VALUE, len(VALUE))
                else:
                    r = libfdt.fdt_setprop_inplace_u32(buf, node, name, U32)
                res.append(code(r))
    elif letter == "A":
        for n in range(NODES):
            res.append(code(libfdt.fdt_add_subnode(buf, node_at(buf, n), "kho")))
    else:
        for n in reversed(range(NODES)):
            node = node_at(buf, n)
            fn = libfdt.fdt_del_node if letter == "X" else libfdt.fdt_nop_node
            res.append(code(fn(buf, node)))
    res.append(code(libfdt.fdt_pack(buf)))
    tail = bytes(buf) if full else struct.pack(">I", zlib.crc32(buf))
    return struct.pack(">H", len(res)) + bytes(res) + struct.pack(">I", len(buf)) + tail


def edit(blob, full=False):
    rec = b"".join(run_script(blob, s, full) for s in SCRIPTS)
    return struct.pack(">I", len(rec)) + rec


def edit_full(blob):
    return edit(blob, True)


def read_exact(f, n):
    data = f.read(n)
    if len(data) != n:
        raise EOFError
    return data


def worker(items, start, fn, wfd, cpu_s, single):
    signal.signal(signal.SIGPROF, signal.SIG_DFL)  # default action: terminate
    for i in range(start, start + 1 if single else len(items)):
        signal.setitimer(signal.ITIMER_PROF, cpu_s)
        out = fn(items[i])
        signal.setitimer(signal.ITIMER_PROF, 0)
        while out:
            out = out[os.write(wfd, out):]


def run_batch(items, fn, framed, cpu_s, single=False):
    """Runs fn over items in forked workers; returns the answers, HANG/CRASH filled in."""
    answers = []
    while len(answers) < len(items):
        start = len(answers)
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            try:
                worker(items, start, fn, wfd, cpu_s, single)
            except BaseException:  # a bug here, not libfdt's verdict: say so and stop
                traceback.print_exc()
                os._exit(3)
            os._exit(0)
        os.close(wfd)
        pending = b""
        while len(answers) < len(items) and not (single and len(answers) > start):
            ready, _, _ = select.select([rfd], [], [], STALL_S)
            if not ready:
                os.kill(pid, signal.SIGKILL)
            chunk = os.read(rfd, 1 << 16) if ready else b""
            if not chunk:
                _, status = os.waitpid(pid, 0)
                pid = 0
                if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3:
                    raise SystemExit("libfdt_oracle.py: worker failed (traceback above)")
                hung = os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGPROF, signal.SIGKILL)
                verdict = HANG if hung else CRASH
                answers.append(bytes([verdict]) if not framed else struct.pack(">IB", 1, verdict))
                break
            pending += chunk
            if not framed:
                answers.extend(pending[i:i + 1] for i in range(len(pending)))
                pending = b""
                continue
            while len(pending) >= 4:
                n = struct.unpack_from(">I", pending)[0]
                if len(pending) < 4 + n:
                    break
                answers.append(pending[:4 + n])
                pending = pending[4 + n:]
        os.close(rfd)
        if pid:
            os.waitpid(pid, 0)
    return answers


def main():
    inp = sys.stdin.buffer
    out = sys.stdout.buffer
    while True:
        try:
            kind = read_exact(inp, 1)
        except EOFError:
            return 0
        if kind == b"Q":
            return 0
        count = struct.unpack(">I", read_exact(inp, 4))[0]
        items = []
        for _ in range(count):
            n = struct.unpack(">I", read_exact(inp, 4))[0]
            items.append(read_exact(inp, n))
        if kind == b"C":
            out.write(b"".join(run_batch(items, check, False, HANG_CPU_S)))
        elif kind in (b"E", b"F", b"I"):
            fn = edit_full if kind == b"F" else edit
            single = kind == b"I"
            out.write(b"".join(run_batch(items, fn, True, 10 * HANG_CPU_S, single)))
        else:
            raise SystemExit("unknown request %r" % kind)
        out.flush()


if __name__ == "__main__":
    sys.exit(main())
