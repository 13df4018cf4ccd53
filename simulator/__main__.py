"""`python -m simulator --port N`: run the provider simulator on 127.0.0.1."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from .server import Config, serve


def main() -> None:
    parser = argparse.ArgumentParser(description="The studio's provider simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--fast", action="store_true", help="tiny frames (same duration and container)"
    )
    parser.add_argument(
        "--loopback-only", action="store_true", help="fetch files from loopback only"
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s simulator %(levelname)s %(message)s"
    )
    config = Config.from_env()
    config.fast = config.fast or args.fast
    config.loopback_only = config.loopback_only or args.loopback_only
    server = serve(args.host, args.port, config)
    mode = "fast mode (tiny frames)" if config.fast else "full renders"
    logging.info("listening on %s, %s", config.public_base, mode)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    server.simulator.pool.shutdown(wait=False, cancel_futures=True)


if __name__ == "__main__":
    main()
