#!/usr/bin/env python3
"""Serve aio9p's example in-memory 9P server over TCP (or a unix socket).

aio9p ships Simple9P2000 / Simple9P2000u as examples that only listen on
./py9p.sock. This wrapper serves the same classes on 127.0.0.1:PORT (or on
--unix PATH) so they can act as a legacy 9P2000 / 9P2000.u backend.

    VENV/bin/python aio9p_server.py --port 5650 --dialect 9P2000
    VENV/bin/python aio9p_server.py --unix /tmp/aio.sock --dialect 9P2000.u

Prints "ready" on stdout (flushed) once the socket accepts connections.
Stops on SIGTERM / SIGINT. Known limits of the served implementation (see
INTEROP.md): each connection gets a fresh, empty in-memory tree; writes are
O(n^2) in the file size (keep files to a few MiB); a wstat rename changes the
stat name but not the directory index; errors on the 9P2000 server are sent
in the .u layout (4 extra errno bytes).
"""

import argparse
import asyncio
import logging
import os
import signal
import sys


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="TCP address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port to listen on")
    p.add_argument("--unix", metavar="PATH", help="serve on a unix socket instead of TCP")
    p.add_argument("--dialect", choices=["9P2000", "9P2000.u"], default="9P2000")
    p.add_argument("--maxsize", type=int, default=65535,
                   help="msize the implementation offers (aio9p's examples use 65535)")
    p.add_argument("--log-level", default="WARNING",
                   help="aio9p logging level on stderr (DEBUG logs every message)")
    args = p.parse_args(argv)
    if (args.port is None) == (args.unix is None):
        p.error("give exactly one of --port or --unix")
    return args


async def serve(args):
    # Imported here so that --help works without aio9p installed.
    from aio9p.protocol import Py9PServer
    if args.dialect == "9P2000":
        from aio9p.example.simple import Simple9P2000 as Impl
    else:
        from aio9p.example.simple_u import Simple9P2000u as Impl

    logger = logging.getLogger("aio9p_server")

    def factory():
        # One implementation object per connection: a fresh in-memory tree each time.
        return Py9PServer(Impl(args.maxsize, logger=logger.getChild("impl")),
                          logger=logger.getChild("server"))

    loop = asyncio.get_running_loop()
    if args.unix:
        try:
            os.unlink(args.unix)
        except FileNotFoundError:
            pass
        server = await loop.create_unix_server(factory, path=args.unix)
        where = f"unix:{args.unix}"
    else:
        server = await loop.create_server(factory, args.host, args.port, reuse_address=True)
        where = f"tcp:{args.host}:{args.port}"

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async with server:
        await server.start_serving()
        print("ready", flush=True)
        print(f"aio9p {args.dialect} server listening on {where}", file=sys.stderr, flush=True)
        await stop.wait()
    if args.unix:
        try:
            os.unlink(args.unix)
        except FileNotFoundError:
            pass


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    # aio9p's example modules log at DEBUG through the root logger's children;
    # keep them quiet unless asked.
    try:
        asyncio.run(serve(args))
    except OSError as exc:
        print(f"aio9p_server: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
