#!/usr/bin/env python3
"""seed-userdata.py SEED.ISO: every write_files entry of the seed's user-data, decoded.

Reads the ISO 9660 image (Rock Ridge names) without mounting it, takes
user-data, opens a MIME multipart into its parts (base64 bodies decoded),
parses each #cloud-config part as YAML and decodes each write_files entry's
content (b64, gz+b64, text). Prints one JSON object: {"parts": [plaintext of
each part], "files": [{"path": P, "content": plaintext}, ...]}. Exit 2 when
the image or the user-data cannot be read: a search over nothing must fail.
"""
import base64
import email
import gzip
import json
import sys

import yaml

SECTOR = 2048


def records(iso, lba, size):
    """The directory records of the directory at @lba."""
    data = iso[lba * SECTOR:lba * SECTOR + size]
    pos = 0
    while pos < len(data):
        n = data[pos]
        if n == 0:  # records do not cross sectors: skip to the next one
            pos = (pos // SECTOR + 1) * SECTOR
            continue
        yield data[pos:pos + n]
        pos += n


def rr_name(rec):
    """The Rock Ridge NM name of a record, else its ISO 9660 name."""
    nlen = rec[32]
    iso_name = rec[33:33 + nlen].decode("latin-1").split(";")[0].rstrip(".")
    su = rec[33 + nlen + (1 - nlen % 2):]
    pos, name = 0, b""
    while pos + 4 <= len(su):
        sig, ln = su[pos:pos + 2], su[pos + 2]
        if ln < 4:
            break
        if sig == b"NM":
            name += su[pos + 5:pos + ln]
        pos += ln
    return name.decode() if name else iso_name


def read_file(path, want):
    with open(path, "rb") as f:
        iso = f.read()
    pvd = iso[16 * SECTOR:17 * SECTOR]
    if pvd[1:6] != b"CD001":
        sys.exit(f"seed-userdata: {path} is not an ISO 9660 image")
    root = pvd[156:156 + 34]
    lba = int.from_bytes(root[2:6], "little")
    size = int.from_bytes(root[10:14], "little")
    for rec in records(iso, lba, size):
        if rec[32] == 1 and rec[33] in (0, 1):  # . and ..
            continue
        if rr_name(rec).lower() in (want, want.replace("-", "_")):
            start = int.from_bytes(rec[2:6], "little") * SECTOR
            return iso[start:start + int.from_bytes(rec[10:14], "little")]
    return None


def decode_content(entry):
    content = entry.get("content", "")
    if isinstance(content, bytes):
        content = content.decode("latin-1")
    enc = str(entry.get("encoding", "text")).lower()
    if enc in ("b64", "base64"):
        return base64.b64decode(content).decode("latin-1")
    if enc in ("gz+b64", "gzip+base64", "gz+base64", "gzip+b64"):
        return gzip.decompress(base64.b64decode(content)).decode("latin-1")
    if enc in ("gz", "gzip"):
        return gzip.decompress(content.encode("latin-1")).decode("latin-1")
    return str(content)


def main():
    ud = read_file(sys.argv[1], "user-data")
    if ud is None:
        print("seed-userdata: no user-data in the seed", file=sys.stderr)
        sys.exit(2)
    text = ud.decode("latin-1")
    parts = []
    if text.startswith("Content-Type: multipart/"):
        for part in email.message_from_string(text).walk():
            if part.is_multipart():
                continue
            parts.append(part.get_payload(decode=True).decode("latin-1"))
    else:
        parts.append(text)
    files = []
    for p in parts:
        if not p.startswith("#cloud-config"):
            continue
        doc = yaml.safe_load(p) or {}
        for entry in doc.get("write_files") or []:
            files.append({"path": entry.get("path"), "content": decode_content(entry)})
    if not files:
        print("seed-userdata: user-data has no write_files", file=sys.stderr)
        sys.exit(2)
    json.dump({"parts": parts, "files": files}, sys.stdout)


if __name__ == "__main__":
    main()
