#!/usr/bin/env python3
"""A 9P2000.L client over TLS (Python's ssl module, standard library only), for the gateway's TLS
tests: an implementation of TLS and of 9P framing independent of the gateway's own.

  tls_9p_client.py --port P --ca CA.pem [--cert C.pem --key K.pem] [--alpn 9p|none|h2]
                   [--server-name localhost] [--tls-max 1.2] --aname DIR
                   [--read NAME] [--write NAME --size BYTES --seed N] [--hold]

Does Tversion and Tattach, then: --read reads NAME whole; --write creates NAME with SIZE
pseudo-random bytes (seeded) in pieces of up to msize, then reads it back; --hold waits for a line
on stdin before each of two getattrs of the root (a session that stays open while the test does
something else). Prints one line of JSON: {"ok": true, "protocol": ..., "cipher": ..., "alpn": ...,
"read_sha256": ..., "read_bytes": ..., "written_sha256": ...}. A TLS failure prints
{"ok": false, "tls_error": "..."} and exits 3; any other failure exits 1. Every socket operation
times out after 30 s; the whole run after --deadline seconds.
"""
import argparse
import hashlib
import json
import random
import signal
import socket
import ssl
import struct
import sys

TVERSION, TATTACH, TWALK, TLOPEN, TLCREATE, TREAD, TWRITE, TCLUNK, TGETATTR = 100, 104, 110, 12, 14, 116, 118, 120, 24
RLERROR = 7
NOFID = 0xFFFFFFFF


class NinePError(Exception):
    pass


class Client:
    def __init__(self, sock):
        self.sock = sock
        self.msize = 65536

    def _recv_exactly(self, count):
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise NinePError("connection closed by the gateway")
            data += chunk
        return data

    def rpc(self, kind, tag, body):
        self.sock.sendall(struct.pack("<IBH", 7 + len(body), kind, tag) + body)
        size, rkind, rtag = struct.unpack("<IBH", self._recv_exactly(7))
        payload = self._recv_exactly(size - 7)
        if rtag != tag:
            raise NinePError(f"reply tag {rtag}, expected {tag}")
        if rkind == RLERROR:
            raise NinePError(f"Rlerror {struct.unpack('<I', payload)[0]} to type {kind}")
        if rkind != kind + 1:
            raise NinePError(f"reply type {rkind} to type {kind}")
        return payload


def s(text):
    data = text.encode()
    return struct.pack("<H", len(data)) + data


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--alpn", default="9p")
    parser.add_argument("--server-name", default="localhost")
    parser.add_argument("--tls-max", choices=["1.2", "1.3"])
    parser.add_argument("--aname", required=True)
    parser.add_argument("--read")
    parser.add_argument("--write")
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("--deadline", type=int, default=120)
    args = parser.parse_args()
    signal.alarm(args.deadline)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(args.ca)
    if args.cert:
        context.load_cert_chain(args.cert, args.key)
    if args.alpn != "none":
        context.set_alpn_protocols([args.alpn])
    if args.tls_max == "1.2":
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    result = {"ok": False}
    raw = socket.create_connection((args.host, args.port), timeout=30)
    # As 9P clients do: without it each Twrite's last small TLS record waits for a delayed ACK.
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock = context.wrap_socket(raw, server_hostname=args.server_name)
        client = Client(sock)
        # TLS 1.3 reports a refused client certificate only at the first read.
        reply = client.rpc(TVERSION, 0xFFFF, struct.pack("<I", 1 << 20) + s("9P2000.L"))
        client.msize = struct.unpack_from("<I", reply)[0]
        result.update(protocol=sock.version(), cipher=sock.cipher()[0], alpn=sock.selected_alpn_protocol(), msize=client.msize)
        client.rpc(TATTACH, 1, struct.pack("<II", 1, NOFID) + s("") + s(args.aname) + struct.pack("<I", 0))
        chunk = client.msize - 24
        if args.write:
            data = random.Random(args.seed).randbytes(args.size)
            client.rpc(TWALK, 2, struct.pack("<IIH", 1, 2, 0))
            client.rpc(TLCREATE, 3, struct.pack("<I", 2) + s(args.write) + struct.pack("<III", 0o1 | 0o100, 0o644, 0))
            offset = 0
            while offset < len(data):
                piece = data[offset:offset + chunk]
                written = struct.unpack(
                    "<I", client.rpc(TWRITE, 4, struct.pack("<IQI", 2, offset, len(piece)) + piece))[0]
                if written == 0:
                    raise NinePError("Rwrite of 0 bytes")
                offset += written
            client.rpc(TCLUNK, 5, struct.pack("<I", 2))
            result["written_sha256"] = hashlib.sha256(data).hexdigest()
            args.read = args.read or args.write
        if args.read:
            names = args.read.split("/")
            client.rpc(TWALK, 6, struct.pack("<IIH", 1, 3, len(names)) + b"".join(s(n) for n in names))
            client.rpc(TLOPEN, 7, struct.pack("<II", 3, 0))
            digest, total = hashlib.sha256(), 0
            while True:
                payload = client.rpc(TREAD, 8, struct.pack("<IQI", 3, total, chunk))   # diod refuses more than msize - 24
                count = struct.unpack_from("<I", payload)[0]
                if count == 0:
                    break
                digest.update(payload[4:4 + count])
                total += count
            client.rpc(TCLUNK, 9, struct.pack("<I", 3))
            result.update(read_sha256=digest.hexdigest(), read_bytes=total)
        if args.hold:
            for round_ in range(2):
                print(json.dumps({"ready": round_}), flush=True)
                sys.stdin.readline()
                client.rpc(TGETATTR, 10, struct.pack("<IQ", 1, 0x7FF))
        result["ok"] = True
        print(json.dumps(result), flush=True)
        sock.close()
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as error:
        result["tls_error"] = str(error)
        print(json.dumps(result), flush=True)
        sys.exit(3)
    except NinePError as error:
        result["error"] = str(error)
        print(json.dumps(result), flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
