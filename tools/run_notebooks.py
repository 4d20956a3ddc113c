#!/usr/bin/python3
"""Execute Jupyter notebooks with nbclient against the Deno kernel, keeping late outputs.

The Deno kernel sometimes publishes a cell's last outputs just after reporting the cell
idle; nbclient (0.7.2 in Debian bookworm) stops reading IOPub at idle and drops them. This
runner keeps draining IOPub for DRAIN_SECONDS after idle and adds what arrives to the cell.

Usage: run_notebooks.py [--kernel NAME] [--timeout SECONDS] IN.ipynb OUT.ipynb [IN OUT ...]
Writes each executed notebook (also when a cell fails); prints one line per notebook;
exit 0 when every cell of every notebook succeeded, 1 otherwise.
"""

import argparse
import asyncio
import os
import queue
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete, CellExecutionError
from nbclient.util import ensure_async

DRAIN_SECONDS = 0.25


class DrainingClient(NotebookClient):
    """NotebookClient that keeps reading IOPub briefly after a cell goes idle."""

    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        assert self.kc is not None
        while True:
            msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=None))
            if msg["parent_header"].get("msg_id") == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    break
        deadline = time.monotonic() + DRAIN_SECONDS
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=left))
            except (queue.Empty, asyncio.TimeoutError, TimeoutError):
                return
            if msg["parent_header"].get("msg_id") == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    pass


def run(path_in, path_out, kernel, timeout):
    nb = nbformat.read(path_in, as_version=4)
    client = DrainingClient(
        nb,
        timeout=timeout,
        kernel_name=kernel,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path_in))}},
    )
    t0 = time.monotonic()
    ok = True
    err = ""
    try:
        client.execute()
    except CellExecutionError as e:
        ok = False
        err = str(e).strip().splitlines()[-1] if str(e).strip() else "cell failed"
    except Exception as e:  # kernel died, timeout, …
        ok = False
        err = f"{type(e).__name__}: {e}"
    nbformat.write(nb, path_out)
    secs = time.monotonic() - t0
    status = "ok" if ok else "FAILED"
    print(f"{status} {os.path.basename(path_in)} {secs:.1f}s" + (f" {err}" if err else ""),
          flush=True)
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default="kholab-deno")
    ap.add_argument("--timeout", type=int, default=120, help="per-cell timeout in seconds")
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    if len(a.paths) % 2:
        ap.error("expected IN OUT pairs")
    ok = True
    for i in range(0, len(a.paths), 2):
        ok = run(a.paths[i], a.paths[i + 1], a.kernel, a.timeout) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
