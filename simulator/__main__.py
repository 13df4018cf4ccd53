"""`python -m simulator --port N`: run the provider simulator on 127.0.0.1.

Configured by SIMULATOR_* environment variables (docs/simulator.md) and these options.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .faults import FaultError, parse_faults
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
    parser.add_argument("--faults", default="", help='base faults, e.g. "read.error=10%%"')
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s simulator %(levelname)s %(message)s"
    )
    try:
        config = Config.from_env()
        config.faults = {**config.faults, **parse_faults(args.faults)}
    except (FaultError, ValueError) as error:
        sys.exit(f"simulator: bad configuration: {error}")
    config.fast = config.fast or args.fast
    config.loopback_only = config.loopback_only or args.loopback_only
    server = serve(args.host, args.port, config)
    # Say which mode it renders in, always: fast mode must never be a surprise.
    mode = "FAST mode (tiny frames, same duration and container)" if config.fast else "full renders"
    logging.info("listening on %s, %s", config.public_base, mode)
    if config.faults:
        logging.info("base faults: %s", ", ".join(f"{k}={v}" for k, v in config.faults.items()))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.shutdown()


if __name__ == "__main__":
    main()
