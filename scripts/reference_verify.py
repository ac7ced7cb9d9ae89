#!/usr/bin/env python3
"""An independent verifier of a WAL directory, written from docs/wal-format.md alone.

It exists as a yardstick: docs/performance.md quotes the speed of `portability-matrix verify` as
a ratio to this script, measured side by side on the same log. It is what a careful user would
write without the tool: CRC-32C in C (the `crc32c` package, hardware-accelerated) and
`json.loads` from the standard library, reading the log in large chunks. It checks the same
things (R1-R5, every payload one JSON value in UTF-8) and prints the frame count, the highest
seq and the violation count per code, so its verdict can be compared with the tool's; it keeps
no messages.

    pip install crc32c
    python3 scripts/reference_verify.py DIR      # exit 0: all hold, 1: violations, 2: not a WAL
"""

import json
import os
import struct
import sys

import crc32c

MAGIC = b"PMWAL\x00"
FILE_HEADER_LEN = 8
FRAME_HEADER_LEN = 16
MAX_PAYLOAD_LEN = 16 * 1024 * 1024
CHUNK = 4 * 1024 * 1024
HEADER = struct.Struct("<IIQ")


def reject_constant(name):
    raise ValueError(f"{name} is not JSON")


# One decoder for every payload: json.loads with an argument would build one per call.
DECODER = json.JSONDecoder(parse_constant=reject_constant)


def is_json(payload, decode=DECODER.decode):
    try:
        decode(payload.decode("utf-8"))
        return True
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
        return False


def verify(directory):
    counts = {}

    def violation(code):
        counts[code] = counts.get(code, 0) + 1

    try:
        with open(os.path.join(directory, "telemetry.safe_seq"), "rb") as f:
            safe_seq = int(f.read().decode("ascii").strip())
    except FileNotFoundError:
        safe_seq = 0
    frames = max_seq = 0
    prev = None
    saw_safe = False
    crc_of, unpack_from = crc32c.crc32c, HEADER.unpack_from  # looked up once, not per frame
    with open(os.path.join(directory, "wal.log"), "rb") as log:
        if log.read(FILE_HEADER_LEN)[:6] != MAGIC:
            print(f"{directory}: wal.log has no PMWAL header", file=sys.stderr)
            sys.exit(2)
        buf, view = b"", memoryview(b"")
        eof = False
        pos = 0
        problem = None
        while problem is None:
            if len(buf) - pos < FRAME_HEADER_LEN and not eof:
                more = log.read(CHUNK)
                eof = not more
                buf, pos = buf[pos:] + more, 0
                view = memoryview(buf)
                continue
            if pos == len(buf):
                break
            if len(buf) - pos < FRAME_HEADER_LEN:
                problem = "truncated"
                break
            crc, length, seq = unpack_from(buf, pos)
            if not 1 <= length <= MAX_PAYLOAD_LEN:
                problem = "bad length"
                break
            end = pos + FRAME_HEADER_LEN + length
            if end > len(buf):
                if eof:
                    problem = "truncated"
                    break
                more = log.read(max(CHUNK, end - len(buf)))
                eof = not more
                buf, pos = buf[pos:] + more, 0
                view = memoryview(buf)
                continue
            if crc_of(view[pos + 4 : end]) != crc:
                problem = "checksum"
                break
            frames += 1
            if seq > max_seq:
                max_seq = seq
            if prev is None:
                if seq != 1:
                    violation("FIRST_SEQ_NOT_ONE")
            elif seq != prev + 1:
                violation("SEQ_GAP")
            if seq == safe_seq:
                saw_safe = True
            elif seq > safe_seq:
                violation("PHANTOM_ENTRY")
            if not is_json(buf[pos + FRAME_HEADER_LEN : end]):
                violation("JSON_CORRUPT")
            prev = seq
            pos = end
    if problem is not None:
        violation("FRAME_CORRUPT")
    if safe_seq > max_seq:
        violation("SAFESEQ_AHEAD")
    if safe_seq > 0 and not saw_safe:
        violation("SAFESEQ_FRAME_MISSING")
    return {
        "pass": not counts,
        "safe_seq": safe_seq,
        "frames": frames,
        "max_seq": max_seq,
        "violation_counts": dict(sorted(counts.items())),
    }


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        sys.exit(2)
    report = verify(sys.argv[1])
    print(json.dumps(report, indent=2))
    sys.exit(0 if report["pass"] else 1)


if __name__ == "__main__":
    main()
