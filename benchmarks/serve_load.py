"""Load on a real `lipread serve` process (loopback only): requests/s and p50/p95 latency of a 3 s
clip for 1, 4 and 16 concurrent clients, each sending a bounded number of requests.

    python benchmarks/serve_load.py --clip examples/lgaf6p.mp4 --requests 24
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=Path("examples/lgaf6p.mp4"))
    parser.add_argument("--requests", type=int, default=24, help="requests per concurrency level")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "lipread.cli", "serve", "--port", str(port), "--workers", str(args.workers), "--queue-size", "64"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(360):
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        data = args.clip.read_bytes()

        def one(_: int) -> tuple[int, float]:
            t = time.perf_counter()
            r = httpx.post(f"{base}/v1/transcriptions", files={"file": ("clip.mp4", data)}, timeout=300)
            return r.status_code, time.perf_counter() - t

        one(0)  # warm-up
        print(
            f"\n{platform.machine()}, {os.cpu_count()} cores; server workers {args.workers}; clip {args.clip} ({len(data)} bytes)"
        )
        print(
            "| clients | requests | ok | requests/s | p50 latency (s) | p95 latency (s) |\n|---:|---:|---:|---:|---:|---:|"
        )
        for clients in (1, 4, 16):
            start = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                results = list(pool.map(one, range(args.requests)))
            wall = time.perf_counter() - start
            latencies = np.array([t for code, t in results if code == 200])
            ok = len(latencies)
            print(
                f"| {clients} | {args.requests} | {ok} | {ok / wall:.2f} | {np.percentile(latencies, 50):.2f} | {np.percentile(latencies, 95):.2f} |"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
