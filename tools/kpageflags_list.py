#!/usr/bin/python3
"""List a host's compound pages as kholab's "pfn order" lines, from /proc/kpageflags.

/proc/kpageflags holds one little-endian 64-bit flag word per page frame, indexed by pfn
(Documentation/admin-guide/mm/pagemap.rst; root only). A compound page of order N is a head
page (flag 15, COMPOUND_HEAD) followed by 2^N - 1 tail pages (flag 16, COMPOUND_TAIL); pages
of a HugeTLB folio also carry flag 17 (HUGE). This prints one "0xPFN ORDER" line per compound
page found, by default only HugeTLB folios (a hypervisor's guest memory on 1 GiB or 2 MiB
pages: the folios it would preserve with KHO), so that

    sudo python3 tools/kpageflags_list.py > host.txt
    deno task kholab import host.txt

replays them through every KHO generation. It lists candidates — memory the host holds in
folios — not what a kernel actually preserved: KHO's debugfs (kho/out/) does not show the
preserved set.

Usage: kpageflags_list.py [--flags FILE] [--start PFN] [--end PFN] [--all-compound]
  --flags FILE     the kpageflags file (default /proc/kpageflags)
  --start, --end   pfn range to scan (default: the whole file); hex with 0x
  --all-compound   every compound page (THP, slab, …), not only HugeTLB folios
Exit 0; a head whose tail count is not 2^N - 1 is reported on stderr and skipped.
"""

import argparse
import struct
import sys

KPF_COMPOUND_HEAD = 1 << 15
KPF_COMPOUND_TAIL = 1 << 16
KPF_HUGE = 1 << 17
CHUNK_PAGES = 1 << 17  # 1 MiB of flag words per read


def scan(f, start, end, all_compound, out, err):
    """Writes one line per compound head in [start, end) and returns the count."""
    f.seek(start * 8)
    head = None  # (pfn, tails so far)
    found = 0
    pfn = start

    def finish():
        nonlocal found
        hpfn, tails = head
        n = tails + 1
        if n & (n - 1):
            err.write(f"kpageflags_list: head 0x{hpfn:x} has {tails} tails: skipped\n")
            return
        out.write(f"0x{hpfn:x} {n.bit_length() - 1}\n")
        found += 1

    while end is None or pfn < end:
        want = CHUNK_PAGES if end is None else min(CHUNK_PAGES, end - pfn)
        buf = f.read(want * 8)
        if not buf:
            break
        words = struct.unpack(f"<{len(buf) // 8}Q", buf[: len(buf) // 8 * 8])
        for w in words:
            if head is not None and w & KPF_COMPOUND_TAIL:
                head = (head[0], head[1] + 1)
            else:
                if head is not None:
                    finish()
                    head = None
                if w & KPF_COMPOUND_HEAD and (all_compound or w & KPF_HUGE):
                    head = (pfn, 0)
            pfn += 1
    if head is not None:
        finish()
    return found


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--flags", default="/proc/kpageflags")
    p.add_argument("--start", default="0")
    p.add_argument("--end", default=None)
    p.add_argument("--all-compound", action="store_true")
    a = p.parse_args(argv)
    start = int(a.start, 0)
    end = None if a.end is None else int(a.end, 0)
    with open(a.flags, "rb") as f:
        sys.stdout.write("# pfn order (from %s)\n" % a.flags)
        scan(f, start, end, a.all_compound, sys.stdout, sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
