"""`python -m kaggle_sandbox [--port 7777] [--data-dir DIR] [--accounts FILE] ...`"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from . import DEFAULT_PORT
from .accounts import Accounts, AccountsError
from .server import SandboxConfig, build_server
from .settings import Settings, SettingsError, parse_pairs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m kaggle_sandbox",
        description="A Kaggle-compatible sandbox server for the official kaggle client.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", default="var/kaggle-sandbox", type=Path)
    parser.add_argument("--accounts", type=Path, help="JSON file of users and organisations")
    parser.add_argument(
        "--processing-delay",
        type=float,
        default=3.0,
        help="seconds a new dataset or version stays 'in progress' (default 3)",
    )
    parser.add_argument("--upload-bandwidth", type=int, help="limit uploads to N bytes/second")
    parser.add_argument("--upload-ttl", type=float, help="seconds an upload session lives")
    parser.add_argument("--public-url", help="base of the dataset links handed out")
    parser.add_argument(
        "--ready-file", type=Path, help="write {port, pid, url} here once listening"
    )
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a fidelity setting (see README), e.g. token_reuse=refuse; repeatable",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s kaggle-sandbox %(message)s", stream=sys.stderr
    )
    try:
        accounts = Accounts.from_file(args.accounts) if args.accounts else Accounts.default()
    except AccountsError as exc:
        print(f"kaggle_sandbox: {exc}", file=sys.stderr)
        return 2
    try:
        overrides = parse_pairs(args.setting)
        Settings().update(overrides)
    except SettingsError as exc:
        print(f"kaggle_sandbox: {exc}", file=sys.stderr)
        return 2
    config = SandboxConfig(
        data_dir=args.data_dir,
        port=args.port,
        host=args.host,
        accounts=accounts,
        processing_delay=args.processing_delay,
        upload_bandwidth=args.upload_bandwidth,
        public_url=args.public_url,
        quiet=args.quiet,
        settings=overrides,
    )
    if args.upload_ttl:
        config.upload_ttl = args.upload_ttl
    try:
        server = build_server(config)
    except OSError as exc:
        print(f"kaggle_sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1

    def stop(signum, frame):
        # shutdown() waits for serve_forever, which runs on this very thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    url = f"http://{args.host}:{server.port}"
    logging.getLogger("kaggle_sandbox").info(
        "listening on %s (data dir %s); point the client at it with "
        "KAGGLE_API_ENVIRONMENT=LOCALHOST HTTP_PROXY=%s",
        url,
        args.data_dir,
        url,
    )
    if args.ready_file:
        tmp = args.ready_file.with_name(args.ready_file.name + ".tmp")
        tmp.write_text(json.dumps({"port": server.port, "pid": os.getpid(), "url": url}))
        tmp.replace(args.ready_file)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
