#!/usr/bin/python3
"""libfdt_replay.py - replay FDT call sequences through Debian's libfdt (pylibfdt).

Run with /usr/bin/python3 (python3-libfdt). Reads a JSON list of cases on stdin and
prints a JSON list of results on stdout, one per case, so that kholab's tests can compare
their own writer/editor/checker with libfdt byte for byte in one process start.

A case is either {"check": HEX} (fdt_check_full verdict of the bytes) or {"ops": [...]}.
Operations (names are strings, values hex strings, nodes are paths):
  ["create", bufsize, grow]          fdt_create on a zeroed buffer; grow=true mimics
                                     pylibfdt's FdtSw (fdt_resize by +1024 on NOSPACE)
  ["add_reservemap_entry", addr, size]
  ["finish_reservemap"]
  ["begin_node", name]   ["end_node"]
  ["property", name, hex]
  ["placeholder", name, len]        fdt_property_placeholder; value filled by "fill"
  ["fill", index, hex]              fill the index-th placeholder
  ["finish"]                        fdt_finish; the buffer stays (stale bytes and all)
  ["open_into", bufsize]            fdt_open_into(buf, buf, bufsize) in place (kernel style;
                                     the buffer is first zero-extended to bufsize)
  ["open_into_new", bufsize]        fdt_open_into into a fresh zeroed buffer (Fdt.resize)
  ["add_subnode", path, name]   ["setprop", path, name, hex]
  ["setprop_inplace", path, name, hex]   (4 or 8 bytes)
  ["delprop", path, name]   ["del_node", path]
  ["nop_property", path, name]   ["nop_node", path]
  ["pack"]   ["snapshot"]
  ["load", hex, bufsize]            start from given bytes, zero-extended to bufsize
Each op yields 0 or the FDT_ERR_* name in "results"; a failed op leaves the buffer as
libfdt left it. The result also has "buf" (hex of the whole buffer), "totalsize",
"snapshots" (list of {"buf", "totalsize"}) and "check" (fdt_check_full of the first
totalsize bytes, after the last op).

Checks run in a forked child with a time limit: libfdt 1.6.1 hangs on some property
lengths and crashes on some pre-v16 headers; those verdicts are "HANG" / "CRASH".
"""
import json
import os
import select
import struct
import sys

import libfdt

INC_SIZE = 1024


def errname(r):
    return 0 if r >= 0 else libfdt.fdt_strerror(r)


def be32(buf, off):
    return struct.unpack_from('>I', buf, off)[0]


def check_full_isolated(data, timeout_s=2.0):
    """fdt_check_full in a child process; returns OK / FDT_ERR_* / HANG / CRASH."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            buf = bytearray(data)
            r = libfdt.fdt_check_full(buf, len(buf))
            os.write(wfd, (libfdt.fdt_strerror(r) if r else 'OK').encode())
        finally:
            os._exit(0)
    os.close(wfd)
    ready, _, _ = select.select([rfd], [], [], timeout_s)
    if not ready:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(rfd)
        return 'HANG'
    out = os.read(rfd, 200).decode()
    os.close(rfd)
    _, status = os.waitpid(pid, 0)
    if not out:
        return 'CRASH'
    return out


class Replay:
    def __init__(self):
        self.buf = None
        self.grow = False
        self.placeholders = []
        self.snapshots = []

    def sw(self, fn):
        """Run an SW call; with grow, fdt_resize by INC_SIZE on NOSPACE and retry."""
        while True:
            r = fn()
            if r == -libfdt.FDT_ERR_NOSPACE and self.grow:
                new = bytearray(len(self.buf) + INC_SIZE)
                rr = libfdt.fdt_resize(self.buf, new, len(new))
                if rr < 0:
                    return rr
                self.buf = new
                continue
            return r

    def node(self, path):
        return libfdt.fdt_path_offset(self.buf, path)

    def op(self, o):
        name = o[0]
        b = lambda: self.buf  # noqa: E731 (buffer may be replaced by a resize)
        if name == 'create':
            self.buf = bytearray(o[1])
            self.grow = bool(o[2]) if len(o) > 2 else False
            return libfdt.fdt_create(self.buf, o[1])
        if name == 'add_reservemap_entry':
            return self.sw(lambda: libfdt.fdt_add_reservemap_entry(b(), o[1], o[2]))
        if name == 'finish_reservemap':
            return self.sw(lambda: libfdt.fdt_finish_reservemap(b()))
        if name == 'begin_node':
            return self.sw(lambda: libfdt.fdt_begin_node(b(), o[1]))
        if name == 'end_node':
            return self.sw(lambda: libfdt.fdt_end_node(b()))
        if name == 'property':
            val = bytes.fromhex(o[2])
            return self.sw(lambda: libfdt.fdt_property_stub(b(), o[1], val, len(val)))
        if name == 'placeholder':
            length = o[2]
            pos = [0]

            def attempt():
                # fdt_property without the memcpy: keep the bytes fdt_property would write.
                buf = b()
                pos[0] = be32(buf, 8) + be32(buf, 36) + 12
                saved = bytes(buf[pos[0]:pos[0] + length])
                r = libfdt.fdt_property_stub(buf, o[1], bytes(length), length)
                if r == 0:
                    buf[pos[0]:pos[0] + length] = saved
                return r
            r = self.sw(attempt)
            self.placeholders.append(pos[0] if r == 0 else None)
            return r
        if name == 'fill':
            pos = self.placeholders[o[1]]
            if pos is None:  # the placeholder failed: nothing to fill
                return 0
            val = bytes.fromhex(o[2])
            self.buf[pos:pos + len(val)] = val
            return 0
        if name == 'load':
            data = bytes.fromhex(o[1])
            self.buf = bytearray(data) + bytearray(max(0, o[2] - len(data)))
            return 0
        if name == 'finish':
            return self.sw(lambda: libfdt.fdt_finish(b()))
        if name == 'open_into':
            size = o[1]
            if size > len(self.buf):
                self.buf.extend(bytes(size - len(self.buf)))
            return libfdt.fdt_open_into(self.buf, self.buf, size)
        if name == 'open_into_new':
            new = bytearray(o[1])
            r = libfdt.fdt_open_into(self.buf, new, o[1])
            if r == 0:
                self.buf = new
            return r
        if name == 'pack':
            return libfdt.fdt_pack(self.buf)
        if name == 'snapshot':
            self.snapshots.append({'buf': self.buf.hex(), 'totalsize': libfdt.fdt_totalsize(self.buf)})
            return 0
        off = self.node(o[1])
        if off < 0:
            return off
        if name == 'add_subnode':
            return libfdt.fdt_add_subnode(self.buf, off, o[2])
        if name == 'setprop':
            val = bytes.fromhex(o[3])
            return libfdt.fdt_setprop(self.buf, off, o[2], val, len(val))
        if name == 'setprop_inplace':
            val = bytes.fromhex(o[3])
            v = int.from_bytes(val, 'big')
            if len(val) == 4:
                return libfdt.fdt_setprop_inplace_u32(self.buf, off, o[2], v)
            if len(val) == 8:
                return libfdt.fdt_setprop_inplace_u64(self.buf, off, o[2], v)
            raise ValueError('setprop_inplace replays 4 or 8 bytes only')
        if name == 'delprop':
            return libfdt.fdt_delprop(self.buf, off, o[2])
        if name == 'del_node':
            return libfdt.fdt_del_node(self.buf, off)
        if name == 'nop_property':
            return libfdt.fdt_nop_property(self.buf, off, o[2])
        if name == 'nop_node':
            return libfdt.fdt_nop_node(self.buf, off)
        raise ValueError('unknown op %r' % (name,))


def run_case(case):
    if 'check' in case:
        return {'check': check_full_isolated(bytes.fromhex(case['check']))}
    rp = Replay()
    results = []
    for o in case['ops']:
        results.append(errname(rp.op(o)))
    ts = libfdt.fdt_totalsize(rp.buf) if rp.buf is not None and len(rp.buf) >= 8 else 0
    blob = bytes(rp.buf[:ts]) if rp.buf is not None else b''
    return {
        'results': results,
        'buf': rp.buf.hex() if rp.buf is not None else '',
        'totalsize': ts,
        'snapshots': rp.snapshots,
        'check': check_full_isolated(blob) if ts <= len(rp.buf or b'') else 'TRUNCATED',
    }


def main():
    cases = json.load(sys.stdin)
    json.dump([run_case(c) for c in cases], sys.stdout)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
