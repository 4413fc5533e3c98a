#!/usr/bin/env python3
"""Independent verifier for Orchestra audit logs (audit/FORMAT.md, versions 1 and 2).

Written from FORMAT.md alone; it shares no code with src/. Needs Python 3.9+
and the `cryptography` package (`pip install cryptography`).

usage: verify.py [--trusted-key FILE [--allow-unsigned-tail]] [--since-checkpoint FILE] [--json] DIR
                 [--fleet WORKER_DIR ... [--fleet-key KEY ...] [--fleet-strict]]
       verify.py --trusted-key FILE --inclusion-proof FILE [--json]
       verify.py --trusted-key FILE --consistency-proof FILE --old-checkpoint FILE [--json]

The proofs are what `orchestra audit prove` prints (FORMAT.md §7.5): an
inclusion proof (C2SP tlog-proof, carrying the record) shows one record is in
the log a signed checkpoint commits to; a consistency proof shows the log of a
newer signed checkpoint extends the one of an older checkpoint the reviewer
kept, without reading the records between.

With a trusted key, records after the last checkpoint signed by it (or a key
rotated in after it) fail as `unsigned_tail` unless --allow-unsigned-tail
(FORMAT.md §10.2). Records an "unsigned tail" recovery record adopted are
listed as not authenticated. A log continued in DIR/continued/ (§9.2) is
verified too, and DIR fails (`continued`) even if it passes itself.

With --fleet (FORMAT.md section 10.7), every authenticated `remote_result`
record of a distributed run's log is checked against the worker's own log:
found among the given directories (fleet_missing), verifying on its own, under
a --fleet-key when given (fleet_unverified), holding the signed checkpoint the
record carries as its history and a matching `delivery_ended` (fleet_bad);
with --fleet-strict a record naming no worker log fails (fleet_unlinked).

Exit status: 0 the log passes, 4 a check failed, 1 usage error.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import stat
import sys
import unicodedata
import zlib

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # pragma: no cover
    sys.stderr.write("verify.py: the `cryptography` package is required: pip install cryptography\n")
    sys.exit(1)

MAGIC = b"ORCHAUDT"
HEADER_LEN = 40
MAX_PAYLOAD = 1 << 24
RECORD_DOMAIN = b"orchestra.audit/v1 record\x00"
GENESIS_DOMAIN = b"orchestra.audit/v1 genesis\x00"
ORIGIN_PREFIX = "orchestra.audit/v1/"
ORIGIN_PREFIX_V2 = "orchestra.audit/v2/"
KEY_NAME = "orchestra-audit"
SEG_RE = re.compile(r"^[0-9]{20}\.seg\Z")
KIND_RE = re.compile(rb"^[a-z0-9_]{1,64}$")
EM_DASH = "\u2014"

# Encodings of small-order Ed25519 points with the sign bit cleared
# (libsodium's blocklist); strict verification rejects them as R or A.
SMALL_ORDER = {
    bytes.fromhex(h)
    for h in [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ]
}


def small_order(p):
    return bytes(p[:31]) + bytes([p[31] & 0x7F]) in SMALL_ORDER


class Fail(Exception):
    def __init__(self, code, reason, segment=None, offset=None, seq=None):
        super().__init__(reason)
        self.code, self.reason, self.segment, self.offset, self.seq = code, reason, segment, offset, seq


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def b64_canonical(s):
    try:
        raw = base64.b64decode(s, validate=True)
    except Exception:
        return None
    if base64.b64encode(raw).decode("ascii") != s:
        return None
    return raw


def decimal(s):
    if not s or not all(c in "0123456789" for c in s) or (len(s) > 1 and s[0] == "0"):
        return None
    v = int(s)
    return v if v < 2**64 else None


class Key:
    """A C2SP ed25519 verifier key string: name+keyid+base64(0x01||pk)."""

    def __init__(self, text):
        text = text.strip("\n")
        parts = text.split("+", 2)
        if len(parts) != 3:
            raise ValueError("expected <name>+<keyid>+<base64 key>")
        name, idh, b = parts
        if not name or any(c == "+" or c.isspace() or unicodedata.category(c) == "Cc" for c in name):
            raise ValueError("invalid key name")
        raw = b64_canonical(b)
        if raw is None or len(raw) != 33 or raw[0] != 1:
            raise ValueError("not an ed25519 public key")
        pk = raw[1:]
        if int.from_bytes(pk, "little") & ((1 << 255) - 1) >= 2**255 - 19:
            raise ValueError("non-canonical public key encoding")
        if small_order(pk):
            raise ValueError("small-order public key")
        kid = sha256(name.encode(), b"\n", b"\x01", pk)[:4]
        if kid.hex() != idh:
            raise ValueError("key id does not match the key")
        self.name, self.id, self.pk, self.text = name, kid, pk, text
        self.obj = Ed25519PublicKey.from_public_bytes(pk)

    def verify(self, sig, msg):
        if small_order(sig[:32]) or int.from_bytes(sig[32:], "little") >= 2**252 + 27742317777372353535851937790883648493:
            return False
        try:
            self.obj.verify(sig, msg)
            return True
        except InvalidSignature:
            return False


class Note:
    def __init__(self, text):
        if "\r" in text:
            raise ValueError("note contains a carriage return")
        i = text.find("\n\n")
        if i < 0:
            raise ValueError("no blank line")
        body, sigs = text[: i + 1], text[i + 2 :]
        lines = body[:-1].split("\n")
        origin = lines[0]
        self.version = 2 if origin.startswith(ORIGIN_PREFIX_V2) else 1 if origin.startswith(ORIGIN_PREFIX) else None
        if self.version is None or not re.fullmatch(r"[0-9a-f]{32}", origin[len(ORIGIN_PREFIX) :]):
            raise ValueError("bad origin")
        if len(lines) != 3 + self.version:
            raise ValueError("body is not %d lines" % (3 + self.version))
        self.origin = origin
        self.log_id = bytes.fromhex(origin[len(ORIGIN_PREFIX) :])
        self.size = decimal(lines[1])
        if self.size is None:
            raise ValueError("bad size")
        h = b64_canonical(lines[2])
        if h is None or len(h) != 32:
            raise ValueError("bad hash")
        tline = lines[3]
        if not tline.startswith("time ") or decimal(tline[5:]) is None:
            raise ValueError("bad time line")
        self.time = decimal(tline[5:])
        self.root = None
        if self.version == 2:
            self.root = h
            hl = lines[4]
            h = b64_canonical(hl[5:]) if hl.startswith("head ") else None
            if h is None or len(h) != 32:
                raise ValueError("bad head line")
        self.head = h
        if not sigs or not sigs.endswith("\n"):
            raise ValueError("no signatures")
        self.sigs = []
        for line in sigs[:-1].split("\n"):
            if not line.startswith(EM_DASH + " "):
                raise ValueError("bad signature line")
            rest = line[2:]
            if " " not in rest:
                raise ValueError("bad signature line")
            name, b = rest.split(" ", 1)
            if not name or "+" in name:
                raise ValueError("bad signature name")
            raw = b64_canonical(b)
            if raw is None or len(raw) != 68:
                raise ValueError("bad signature")
            self.sigs.append((name, raw[:4], raw[4:]))
        self.body = body.encode("utf-8")
        self.text = text

    def verified_by(self, key):
        """At least one signature line by `key` (name and key id), and every such line verifies (§7.1);
        in format 2 also under the origin as the key name (its key id computed with that name)."""
        names = [(key.name, key.id)]
        if self.version == 2:
            names.append((self.origin, sha256(self.origin.encode(), b"\n", b"\x01", key.pk)[:4]))
        for n, i in names:
            mine = [sig for name, kid, sig in self.sigs if name == n and kid == i]
            if not mine or not all(key.verify(sig, self.body) for sig in mine):
                return False
        return True


def leaf_hash(data):
    return sha256(b"\x00", data)


def node_hash(left, right):
    return sha256(b"\x01", left, right)


class Tree:
    """The right edge of an RFC 6962 tree: (height, hash) of its perfect subtrees, largest first."""

    def __init__(self):
        self.nodes = []

    def push(self, leaf):
        node = (0, leaf)
        while self.nodes and self.nodes[-1][0] == node[0]:
            h, left = self.nodes.pop()
            node = (h + 1, node_hash(left, node[1]))
        self.nodes.append(node)

    def root(self):
        if not self.nodes:
            return sha256(b"")
        acc = self.nodes[-1][1]
        for _, h in reversed(self.nodes[:-1]):
            acc = node_hash(h, acc)
        return acc


def verify_inclusion(leaf, index, size, proof, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(m, n, old_root, new_root, proof):
    """RFC 9162 section 2.1.4.2 (m > 0)."""
    if m == n:
        return not proof and old_root == new_root
    if m == 0 or m > n or not proof:
        return False
    if m & (m - 1) == 0:
        proof = [old_root] + list(proof)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


def canonical(v):
    """FORMAT.md §6 canonical JSON."""
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _no_float(s):
    raise ValueError("non-integer number")


def _int(s):
    v = int(s)
    if not -(2**63) <= v < 2**64:
        raise ValueError("integer out of range")
    return v


MAX_DEPTH = 64


def check_depth(v, d=0):
    if d > MAX_DEPTH:
        raise ValueError("body nests too deep")
    if isinstance(v, dict):
        for x in v.values():
            check_depth(x, d + 1)
    elif isinstance(v, list):
        for x in v:
            check_depth(x, d + 1)


def parse_body(b):
    try:
        text = b.decode("utf-8")
        v = json.loads(text, parse_float=_no_float, parse_int=_int, parse_constant=_no_float)
    except (ValueError, RecursionError) as e:
        raise ValueError("body is not JSON: %s" % e)
    if not isinstance(v, dict):
        raise ValueError("body is not a JSON object")
    check_depth(v)
    try:
        again = canonical(v)
    except Exception:
        raise ValueError("body is not canonical")
    if again != b:
        raise ValueError("body is not in canonical JSON form")
    return v


def read_frame(buf, at):
    """Return ('ok', type, payload, next) or ('bad', reason, reaches_eof)."""
    rest = len(buf) - at
    zeros = not any(buf[at:])
    if rest < 9:
        return ("bad", "incomplete frame", True)
    ty = buf[at]
    n = int.from_bytes(buf[at + 1 : at + 5], "big")
    end = 9 + n
    if n > MAX_PAYLOAD:
        return ("bad", "frame too long", end >= rest or zeros)
    if end > rest:
        return ("bad", "frame extends past the end", True)
    reaches = end == rest or zeros
    if zlib.crc32(buf[at : at + 5 + n]) != int.from_bytes(buf[at + 5 + n : at + end], "big"):
        return ("bad", "frame CRC mismatch", reaches)
    if ty not in (0x52, 0x43):
        return ("bad", "unknown frame type", reaches)
    return ("ok", ty, buf[at + 5 : at + 5 + n], at + end)


def is_torn_tail(buf, at):
    """FORMAT.md §4.3 (2): no valid frame starts after the bad one."""
    for p in range(at + 1, len(buf)):
        if buf[p] in (0x52, 0x43) and len(buf) - p >= 9 and read_frame(buf, p)[0] == "ok":
            return False
    return True


class Verifier:
    def __init__(self, trusted=None, since=None, allow_unsigned_tail=False):
        self.trusted, self.since, self.allow_unsigned_tail = trusted, since, allow_unsigned_tail
        self.adopted = []  # [(first_seq, records, recovery_seq)]
        self.log_id = None
        self.next_seq = 0
        self.head = None
        self.keys = []  # [Key]
        self.max_size = []  # per key
        self.current = None
        self.pending = None  # (Key, seq)
        self.last_cp = None  # (size, head)
        self.checkpoints = 0
        self.last_size = 0
        self.since_head = None
        self.torn = None
        self.recoveries = 0
        self.segments = 0
        self.version = None
        self.tree = None
        self.since_root = None
        self.pruned = None
        self.prune_point = None  # (head, root) of the marker's checkpoint
        self.prune_record = None  # seq of the log_pruned record naming it
        self.on_record = None  # called with (seq, kind, body) for every record read
        self.marks = {}  # size -> (head, root) after that many records, for the sizes asked for
        self.key_from = []  # per key: the first checkpoint size it may sign

    def start_after_prune(self, d):
        """A pruned log (FORMAT.md section 14): start from the marker's checkpoint, key and tree."""
        path = os.path.join(d, "pruned")
        if not os.path.lexists(path):
            return 0
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 64 << 10:
            raise Fail("pruned", "the prune marker is not a regular file of at most 64 KiB")
        try:
            text = open(path, encoding="utf-8", newline="").read()
            i = text.find("\n\n")
            if i < 0:
                raise ValueError("no blank line")
            lines = text[:i].split("\n")
            if len(lines) < 3 or lines[0] != "orchestra.audit/pruned" or not lines[1].startswith("size ") or not lines[2].startswith("key "):
                raise ValueError("not a prune marker")
            size = decimal(lines[1][5:])
            if not size:
                raise ValueError("bad size")
            key = Key(lines[2][4:])
            edge = []
            for l in lines[3:]:
                h = b64_canonical(l[5:]) if l.startswith("edge ") else None
                if h is None or len(h) != 32:
                    raise ValueError("bad edge line")
                edge.append(h)
            note = Note(text[i + 2 :])
        except (UnicodeDecodeError, ValueError) as e:
            raise Fail("pruned", "prune marker: %s" % e)
        if note.size != size or not note.verified_by(key):
            raise Fail("pruned", "the prune marker's checkpoint is not of its size or not signed by its key")
        tree = None
        if note.version == 2:
            heights = [h for h in range(63, -1, -1) if size >> h & 1]
            if len(heights) != len(edge):
                raise Fail("pruned", "the prune marker's right edge does not fit its size")
            tree = Tree()
            tree.nodes = list(zip(heights, edge))
            if tree.root() != note.root:
                raise Fail("pruned", "the prune marker's right edge does not give its checkpoint's root")
        elif edge:
            raise Fail("pruned", "a format-1 marker has no edge lines")
        self.log_id, self.version, self.tree, self.head = note.log_id, note.version, tree, note.head
        self.next_seq = self.pruned = size
        self.prune_point = (note.head, note.root)
        self.push_key(key)
        return size

    def run(self, d):
        start = self.start_after_prune(d)
        # A number over 2^64-1 is not a segment name (FORMAT.md §1): ignored.
        names = sorted(n for n in os.listdir(d) if SEG_RE.match(n) and start <= int(n[:20]) < 2**64)
        if not names:
            raise Fail("empty", "no segment files")
        for i, name in enumerate(names):
            last = i == len(names) - 1
            with open(os.path.join(d, name), "rb") as f:
                buf = f.read()
            self.segments += 1
            if last and i > 0 and len(buf) < HEADER_LEN:
                self.torn = (name, 0, len(buf))
                break
            self.header(buf, name)
            at = HEADER_LEN
            while at < len(buf):
                r = read_frame(buf, at)
                if r[0] == "bad":
                    if last and r[2] and is_torn_tail(buf, at):
                        self.torn = (name, at, len(buf) - at)
                        break
                    raise Fail("frame", r[1], name, at, self.next_seq)
                _, ty, payload, nxt = r
                if ty == 0x52:
                    self.record(payload, name, at)
                else:
                    self.checkpoint(payload, name, at)
                at = nxt

    def header(self, buf, name):
        if len(buf) < HEADER_LEN or buf[:8] != MAGIC:
            raise Fail("segment_header", "bad segment header", name, 0)
        version = int.from_bytes(buf[8:12], "big")
        if version not in (1, 2) or (self.version is not None and version != self.version):
            raise Fail("segment_header", "unsupported or inconsistent version", name, 0)
        if zlib.crc32(buf[:36]) != int.from_bytes(buf[36:40], "big"):
            raise Fail("segment_header", "header CRC mismatch", name, 0)
        log_id, first = buf[12:28], int.from_bytes(buf[28:36], "big")
        if self.log_id is None:
            self.log_id = log_id
            self.version = version
            self.tree = Tree() if version == 2 else None
            self.head = sha256(GENESIS_DOMAIN, log_id)
        elif log_id != self.log_id:
            raise Fail("log_id_mismatch", "segment of another log", name, 0)
        if first != int(name[:20]):
            raise Fail("segment_name", "header and file name disagree", name, 0)
        if first != self.next_seq:
            raise Fail("segment_gap", "segment starts at %d, expected %d" % (first, self.next_seq), name, 0, self.next_seq)

    def record(self, p, seg, at):
        def bad(code, why, seq=None):
            return Fail(code, why, seg, at, self.next_seq if seq is None else seq)

        if len(p) < 53:
            raise bad("record_encoding", "payload too short")
        seq = int.from_bytes(p[0:8], "big")
        prev = p[16:48]
        k = p[48]
        if len(p) < 53 + k:
            raise bad("record_encoding", "payload too short for kind")
        kind = p[49 : 49 + k]
        blen = int.from_bytes(p[49 + k : 53 + k], "big")
        if len(p) != 53 + k + blen:
            raise bad("record_encoding", "length mismatch")
        if not KIND_RE.match(kind):
            raise bad("record_encoding", "invalid kind")
        kind = kind.decode("ascii")
        try:
            body = parse_body(p[53 + k :])
        except ValueError as e:
            raise bad("record_encoding", str(e))
        if seq != self.next_seq:
            raise bad("seq", "sequence %d, expected %d" % (seq, self.next_seq), seq)
        if self.pending is not None:
            raise bad("rotation", "rotation not followed by its checkpoint", seq)
        if prev != self.head:
            raise bad("genesis" if seq == 0 else "chain", "prev does not match", seq)
        if seq == 0:
            if kind != "log_opened":
                raise bad("genesis", "first record is not log_opened", seq)
            if body.get("format") != self.version or type(body.get("format")) is not int or body.get("log_id") != self.log_id.hex():
                raise bad("genesis", "log_opened format/log_id", seq)
            try:
                key = Key(body["key"]) if isinstance(body.get("key"), str) else None
            except ValueError:
                key = None
            if key is None:
                raise bad("genesis", "log_opened key", seq)
            self.push_key(key)
        elif kind == "log_opened":
            raise bad("genesis", "log_opened after record 0", seq)
        if kind == "key_rotation":
            cur = self.keys[self.current]
            if body.get("old_key") != cur.text:
                raise bad("rotation", "old_key is not the key in force", seq)
            try:
                new = Key(body["new_key"]) if isinstance(body.get("new_key"), str) else None
            except ValueError:
                new = None
            if new is None:
                raise bad("rotation", "bad new_key", seq)
            self.pending = (new, seq)
        elif kind == "log_pruned":
            size = body.get("size")
            if type(size) is not int or not (0 < size <= seq):
                raise bad("pruned", "log_pruned does not name a size at or below its own sequence", seq)
            hx = lambda b: b.hex() if b is not None else None
            if (size == self.pruned and self.prune_record is None and self.prune_point is not None
                    and body.get("head") == hx(self.prune_point[0]) and body.get("root") == hx(self.prune_point[1])):
                self.prune_record = seq
        elif kind == "recovery":
            self.recoveries += 1
            if body.get("reason") == "unsigned tail":
                first, n = body.get("first_seq"), body.get("records")
                if type(first) is not int or type(n) is not int or not (0 <= first <= seq) or seq - first != n or n == 0:
                    raise bad("recovery", "an unsigned-tail recovery must name the records right before it", seq)
                self.adopted.append((first, n, seq))
        self.head = sha256(RECORD_DOMAIN, p)
        if self.tree is not None:
            self.tree.push(leaf_hash(p))
        self.next_seq += 1
        if self.next_seq in self.marks:
            self.marks[self.next_seq] = (self.head, self.tree.root() if self.tree is not None else None)
        if self.on_record is not None:
            self.on_record(seq, kind, body)
        if self.since is not None and self.since.size == self.next_seq:
            self.since_head = self.head
            self.since_root = self.tree.root() if self.tree is not None else None

    def push_key(self, key):
        self.key_from.append(self.next_seq)
        self.keys.append(key)
        self.max_size.append(0)
        self.current = len(self.keys) - 1

    def checkpoint(self, p, seg, at):
        def bad(code, why, seq=None):
            return Fail(code, why, seg, at, seq)

        try:
            note = Note(p.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise bad("checkpoint_encoding", str(e))
        if note.log_id != self.log_id:
            raise bad("checkpoint_encoding", "checkpoint of another log", note.size)
        if note.version != self.version:
            raise bad("checkpoint_encoding", "checkpoint of format %d in a log of format %d" % (note.version, self.version), note.size)
        if not self.keys or note.size == 0:
            raise bad("checkpoint_size", "checkpoint before the first record", note.size)
        if note.size != self.next_seq:
            raise bad("checkpoint_size", "size %d after %d records" % (note.size, self.next_seq), note.size)
        if note.head != self.head:
            signed = any(note.verified_by(k) for k in self.keys)
            if signed and self.last_cp is not None and self.last_cp[0] == note.size and self.last_cp[1] != note.head:
                raise bad("equivocation", "a key of this log signed two heads for one size", note.size)
            raise bad("checkpoint_head", "head does not match the chain", note.size)
        if note.root is not None and note.root != self.tree.root():
            raise bad("checkpoint_root", "root does not match the Merkle tree of the records", note.size)
        signer = self.current
        if self.pending is not None:
            if not note.verified_by(self.keys[signer]):
                raise bad("rotation", "rotation not signed by the old key", note.size)
            self.push_key(self.pending[0])
            self.pending = None
        elif not note.verified_by(self.keys[signer]):
            raise bad("checkpoint_signature", "bad signature", note.size)
        self.max_size[signer] = max(self.max_size[signer], note.size)
        self.checkpoints += 1
        self.last_cp = (note.size, note.head)
        self.last_size = note.size

    def finish(self):
        if self.since is not None:
            s = self.since
            if self.pruned is not None and s.size < self.pruned:
                raise Fail("since_checkpoint", "the exported checkpoint is older than the prune point")
            if s.log_id != self.log_id:
                raise Fail("since_checkpoint", "exported checkpoint of another log")
            if not any(s.verified_by(k) for k in self.keys):
                raise Fail("since_checkpoint", "exported checkpoint not signed by a key of this log")
            if self.since_head is None:
                raise Fail("since_checkpoint", "log has %d records, checkpoint covers %d: truncated or rolled back" % (self.next_seq, s.size))
            if self.since_head != s.head or (s.root is not None and s.root != self.since_root):
                raise Fail("equivocation", "different head for size %d" % s.size)
        if self.trusted is not None:
            idx = next((i for i, k in enumerate(self.keys) if k.pk == self.trusted.pk), None)
            if idx is None:
                raise Fail("untrusted_key", "trusted key is not a key of this log")
            auth = max(self.max_size[idx:] or [0])
            if auth == 0:
                raise Fail("untrusted_key", "no checkpoint signed by the trusted key")
            # Adopted records are covered by checkpoints but nobody vouches for them.
            adopted = sum(max(0, min(f + n, auth) - min(f, auth)) for f, n, _ in self.adopted)
            self.auth = auth - adopted - min(self.pruned or 0, auth - adopted)
            if self.next_seq > auth and not self.allow_unsigned_tail:
                raise Fail("unsigned_tail", "%d record(s) after the last trusted checkpoint" % (self.next_seq - auth), seq=auth)
            if self.adopted and not self.allow_unsigned_tail:
                f, n, r = self.adopted[0]
                raise Fail("adopted", "records %d..=%d were adopted unsigned by record %d" % (f, f + n - 1, r), seq=f)
        if self.pruned is not None:
            # The log_pruned record naming the marker must be signed (by the trusted key or its
            # successors, when one is given) and not adopted unsigned (FORMAT.md section 14).
            signed_to = max(self.max_size[idx:] or [0]) if self.trusted is not None else self.last_size
            r = self.prune_record
            if r is None or r >= signed_to or any(f <= r < f + n for f, n, _ in self.adopted):
                raise Fail("pruned", "records before %d were removed without a signed log_pruned record naming the marker" % self.pruned)
        return self.auth if self.trusted is not None else 0


def verify_dir(d, trusted, since, allow_unsigned_tail, prepare=None):
    v = Verifier(trusted, since, allow_unsigned_tail)
    if prepare is not None:
        prepare(v, d)
    err, auth = None, 0
    try:
        v.run(d)
        auth = v.finish()
    except Fail as e:
        err = e
        auth = getattr(v, "auth", 0)
    cont = os.path.join(d, "continued")
    continued = None
    if os.path.isdir(cont) and any(SEG_RE.match(n) for n in os.listdir(cont)):
        c, _ = verify_dir(cont, trusted, None, allow_unsigned_tail, prepare)
        c.pop("_verifier")
        continued = c
        if err is None:
            err = Fail("continued", "a writer found this log damaged and continued it in continued/")
    out = {
        "verdict": "fail" if err else "ok",
        "records": v.next_seq - (v.pruned or 0),
        "checkpoints": v.checkpoints,
        "unsigned_tail": v.next_seq - v.last_size,
        "torn_tail": v.torn is not None,
        "recoveries": v.recoveries,
        "authenticated_records": auth if (not err or err.code in ("unsigned_tail", "adopted", "continued")) else 0,
        "adopted": [{"first_seq": f, "records": n, "recovery_seq": r} for f, n, r in v.adopted],
        "keys": [k.id.hex() for k in v.keys],
        "code": err.code if err else None,
        "segment": err.segment if err else None,
        "offset": err.offset if err else None,
        "seq": err.seq if err else None,
        "reason": err.reason if err else None,
        "continued": continued,
        "_verifier": v,
    }
    return out, err


# ---- Fleet check (FORMAT.md section 10.7, informative) -----------------------


def coverage(v, trusted):
    """How many records of the log `v` read are signed by a checkpoint that counts (section 10.2)."""
    if trusted is None:
        return v.last_size
    idx = next((i for i, k in enumerate(v.keys) if k.pk == trusted.pk), None)
    return max(v.max_size[idx:] or [0]) if idx is not None else 0


def authenticated(v, trusted, seq):
    if any(f <= seq < f + n for f, n, _ in v.adopted):
        return False
    return seq < coverage(v, trusted)


def log_id_of(d):
    """The log id in the first segment header of `d` (None without one)."""
    for n in sorted(os.listdir(d)):
        if SEG_RE.match(n):
            with open(os.path.join(d, n), "rb") as f:
                h = f.read(HEADER_LEN)
            if len(h) == HEADER_LEN and h[:8] == MAGIC:
                return h[12:28].hex()
    return None


def fleet_logs(dirs):
    """log id -> directory, over the given directories (a log, or a state directory holding audit/)
    and the continued/ logs below them. A directory without a log is a usage error."""
    found = {}
    for d in dirs:
        base = d
        has = lambda x: os.path.isdir(x) and any(SEG_RE.match(n) for n in os.listdir(x))
        if not has(base):
            base = os.path.join(d, "audit")
            if not has(base):
                raise ValueError("--fleet %s: no audit log there (no segment files in it or in %s/audit)" % (d, d))
        while has(base):
            lid = log_id_of(base)
            if lid is None:
                raise ValueError("--fleet %s: no segment header there names a log id" % base)
            found.setdefault(lid, base)
            base = os.path.join(base, "continued")
    return found


def remote_result(seq, body):
    """The fields of a remote_result body (FORMAT.md section 5.3), or a reason it is malformed."""
    s = lambda k: body.get(k) if isinstance(body.get(k), str) else None
    n = lambda k: body.get(k) if type(body.get(k)) is int and body.get(k) >= 0 else None
    r = {"seq": seq, "task": s("task") or "", "attempt": n("attempt") or 0, "msg": s("msg") or "",
         "token": n("token") or 0, "worker": s("worker") or "", "log": None, "malformed": None}
    missing = [k for k in ("task", "msg", "worker") if s(k) is None] + [k for k in ("attempt", "token") if n(k) is None]
    if missing:
        r["malformed"] = "its body lacks %s (or has the wrong type)" % ", ".join(missing)
    w = body.get("worker_log")
    if w is not None:
        ok = isinstance(w, dict) and isinstance(w.get("log_id"), str) and type(w.get("size")) is int \
            and (w.get("checkpoint") is None or isinstance(w.get("checkpoint"), str))
        if ok:
            r["log"] = (w["log_id"], w["size"], w.get("checkpoint"))
        else:
            r["malformed"] = "its worker_log is not {log_id, size, checkpoint}"
    return r


def check_worker_log(d, results, keys, allow_unsigned_tail):
    """Verify the worker log in `d` and check each result that names it; returns (summary, failures)."""
    sizes = {r["log"][1] for r in results if r["log"][1] > 0}
    ended = []  # (seq, msg, task, attempt, token)

    def prepare(v, where):
        if where != d:
            return

        def seen(seq, kind, body):
            if kind == "delivery_ended":
                ended.append((seq, body.get("msg"), body.get("task"), body.get("attempt"), body.get("token")))

        v.marks = {size: None for size in sizes}
        v.on_record = seen

    plain, _ = verify_dir(d, None, None, allow_unsigned_tail)
    declared = plain.pop("_verifier").keys
    trusted = None
    if keys:
        trusted = next((k for k in keys if any(k.pk == x.pk for x in declared)), None)
    out, err = verify_dir(d, trusted, None, allow_unsigned_tail, prepare)
    v = out.pop("_verifier")
    summary = {"dir": d, "log_id": v.log_id.hex() if v.log_id else None, "verdict": "fail" if err else "ok",
               "code": err.code if err else None, "records": v.next_seq, "results": len(results),
               "trusted_key": trusted.text if trusted else None}
    fails = []

    def bad(r, code, why):
        fails.append({"code": code, "seq": r["seq"], "worker": r["worker"], "task": r["task"], "reason": why})

    for r in results:
        lid, size, cp = r["log"]
        if keys and trusted is None:
            bad(r, "fleet_unverified", "none of the --fleet-key keys is a key of worker log %s" % lid)
            continue
        if err is not None:
            bad(r, "fleet_unverified", "worker log %s fails verification: [%s] %s" % (lid, err.code, err.reason))
            continue
        if cp is None:
            bad(r, "fleet_bad", "the result carries no checkpoint of worker log %s" % lid)
            continue
        try:
            note = Note(cp)
        except ValueError as e:
            bad(r, "fleet_bad", "its checkpoint does not parse: %s" % e)
            continue
        if note.log_id.hex() != lid or note.size != size:
            bad(r, "fleet_bad", "its checkpoint names another log or size")
            continue
        last = len(v.keys) - 1
        in_force = [k for i, k in enumerate(v.keys) if v.key_from[i] <= size and (i == last or size <= v.key_from[i + 1])]
        if not any(note.verified_by(k) for k in in_force):
            bad(r, "fleet_bad", "its checkpoint is not signed by the key of worker log %s in force at %d records" % (lid, size))
            continue
        if v.pruned is not None and size <= v.pruned:
            bad(r, "fleet_bad", "worker log %s is pruned past %d records: check the archive" % (lid, size))
            continue
        if v.next_seq < size:
            bad(r, "fleet_bad", "worker log %s has %d records, the checkpoint %d: truncated or rolled back" % (lid, v.next_seq, size))
            continue
        head, root = v.marks.get(size) or (None, None)
        if head != note.head or (note.root is not None and root != note.root):
            bad(r, "fleet_bad", "worker log %s at %d records is not what its writer signed: rewritten or forked" % (lid, size))
            continue
        match = lambda e: e[0] < size and e[1:] == (r["msg"], r["task"], r["attempt"], r["token"])
        if not any(match(e) and authenticated(v, trusted, e[0]) for e in ended):
            bad(r, "fleet_bad", "worker log %s holds no authenticated delivery_ended of message %s token %d" % (lid, r["msg"], r["token"]))
    return summary, fails


def check_fleet(run_records, dirs, keys, strict, allow_unsigned_tail):
    """The run's authenticated remote_result records against the worker logs (section 10.7)."""
    logs = fleet_logs(dirs)
    results = [remote_result(seq, body) for seq, body in run_records]
    fails, warnings, summaries = [], [], []
    by_log = {}
    for r in results:
        if r["malformed"]:
            fails.append({"code": "fleet_bad", "seq": r["seq"], "worker": r["worker"], "task": r["task"], "reason": r["malformed"]})
        elif r["log"] is None:
            item = {"code": "fleet_unlinked", "seq": r["seq"], "worker": r["worker"], "task": r["task"],
                    "reason": "the result names no worker log: it rests on the worker's message signature alone"}
            (fails if strict else warnings).append(item)
        elif r["log"][0] not in logs:
            fails.append({"code": "fleet_missing", "seq": r["seq"], "worker": r["worker"], "task": r["task"],
                          "reason": "no --fleet directory holds worker log %s" % r["log"][0]})
        else:
            by_log.setdefault(r["log"][0], []).append(r)
    for lid, rs in sorted(by_log.items()):
        summary, f = check_worker_log(logs[lid], rs, keys, allow_unsigned_tail)
        summaries.append(summary)
        fails.extend(f)
    fails.sort(key=lambda x: x["seq"])
    return {"results": len(results), "confirmed": len(results) - len(fails) - len(warnings),
            "failures": fails, "warnings": warnings, "logs": summaries}


def b64_hash(line):
    h = b64_canonical(line)
    if h is None or len(h) != 32:
        raise ValueError("a proof line is not a canonical base64 hash")
    return h


def split_proof(text):
    i = text.find("\n\n")
    if i < 0:
        raise ValueError("no blank line before the checkpoint")
    return text[:i].split("\n"), Note(text[i + 2 :])


def check_note(note, key):
    if note.version != 2:
        raise Fail("proof", "the checkpoint is of format 1: it commits to no Merkle tree")
    if not note.verified_by(key):
        raise Fail("proof_signature", "the checkpoint is not signed by the trusted key (under its name and the origin)")


def check_inclusion(text, key):
    """A C2SP tlog-proof holding the record in its `extra` line (FORMAT.md section 7.5). Returns (seq, kind, body)."""
    lines, note = split_proof(text)
    if len(lines) < 3 or lines[0] != "c2sp.org/tlog-proof@v1" or not lines[1].startswith("extra ") or not lines[2].startswith("index "):
        raise ValueError("not a c2sp.org/tlog-proof@v1 with extra and index lines")
    payload = b64_canonical(lines[1][6:])
    index = decimal(lines[2][6:])
    if payload is None or index is None:
        raise ValueError("bad extra or index line")
    path = [b64_hash(x) for x in lines[3:]]
    check_note(note, key)
    if len(payload) < 53:
        raise Fail("proof", "the record does not decode")
    seq, k = int.from_bytes(payload[0:8], "big"), payload[48]
    kind = payload[49 : 49 + k].decode("ascii", "replace")
    try:
        body = parse_body(payload[53 + k :])
    except ValueError:
        raise Fail("proof", "the record's body does not decode")
    if seq != index:
        raise Fail("proof", "the record's sequence number is not the proof's index")
    if not verify_inclusion(leaf_hash(payload), index, note.size, path, note.root):
        raise Fail("proof", "the inclusion path does not lead to the checkpoint's root")
    return seq, kind, body, note


def check_consistency(text, old, key):
    """`old N`, the consistency path, the newer checkpoint; `old` is the older checkpoint the reviewer kept."""
    lines, note = split_proof(text)
    if not lines or not lines[0].startswith("old ") or decimal(lines[0][4:]) is None:
        raise ValueError("no `old N` line")
    size = decimal(lines[0][4:])
    path = [b64_hash(x) for x in lines[1:]]
    check_note(note, key)
    check_note(old, key)
    if old.log_id != note.log_id:
        raise Fail("proof", "the two checkpoints are of different logs")
    if old.size != size:
        raise Fail("proof", "the older checkpoint covers %d records, the proof starts at %d" % (old.size, size))
    if not verify_consistency(old.size, note.size, old.root, note.root, path):
        raise Fail("proof", "the newer tree does not extend the older one: rewritten, truncated or forked")
    return note


def main_proof(a, trusted):
    if trusted is None:
        sys.stderr.write("verify.py: a proof is checked against --trusted-key\n")
        return 1
    try:
        text = open(a.inclusion_proof or a.consistency_proof, encoding="utf-8", newline="").read()
        old = Note(open(a.old_checkpoint, encoding="utf-8", newline="").read()) if a.consistency_proof else None
        if a.inclusion_proof:
            seq, kind, body, note = check_inclusion(text, trusted)
            out = {"verdict": "ok", "proof": "inclusion", "seq": seq, "kind": kind, "body": body, "size": note.size, "log_id": note.log_id.hex()}
        else:
            note = check_consistency(text, old, trusted)
            out = {"verdict": "ok", "proof": "consistency", "old_size": old.size, "size": note.size, "log_id": note.log_id.hex()}
    except (OSError, UnicodeDecodeError, ValueError) as e:
        sys.stderr.write("verify.py: %s\n" % e)
        return 1
    except Fail as e:
        out = {"verdict": "fail", "code": e.code, "reason": e.reason}
    if a.json:
        print(json.dumps(out, sort_keys=True))
    elif out["verdict"] == "fail":
        print("FAIL [%s] %s" % (out["code"], out["reason"]))
    elif out["proof"] == "inclusion":
        print("OK: record %d (%s) is in log %s of %d records, signed by %s" % (out["seq"], out["kind"], out["log_id"], out["size"], trusted.id.hex()))
        print(json.dumps(out["body"], sort_keys=True))
    else:
        print("OK: log %s of %d records extends the one of %d records, both signed by %s" % (out["log_id"], out["size"], out["old_size"], trusted.id.hex()))
    return 0 if out["verdict"] == "ok" else 4


def main(argv=None):
    ap = argparse.ArgumentParser(description="Verify an Orchestra audit log (FORMAT.md v1, v2) or a proof over one.")
    ap.add_argument("dir", nargs="?")
    ap.add_argument("--inclusion-proof")
    ap.add_argument("--consistency-proof")
    ap.add_argument("--old-checkpoint")
    ap.add_argument("--trusted-key")
    ap.add_argument("--since-checkpoint")
    ap.add_argument("--allow-unsigned-tail", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--fleet", action="append", default=[], metavar="DIR",
                    help="a worker's audit log (or state directory): check the run's remote_result records against it")
    ap.add_argument("--fleet-key", action="append", default=[], metavar="KEY",
                    help="a worker log's public key (string or file): each worker log must be signed by one")
    ap.add_argument("--fleet-strict", action="store_true", help="a remote_result naming no worker log fails")
    try:
        a = ap.parse_args(argv)
    except SystemExit as e:
        return 0 if e.code == 0 else 1
    try:
        trusted = Key(open(a.trusted_key, encoding="utf-8", newline="").read()) if a.trusted_key else None
        since = Note(open(a.since_checkpoint, encoding="utf-8", newline="").read()) if a.since_checkpoint else None
        fleet_keys = []
        for k in a.fleet_key:
            text = open(k, encoding="utf-8", newline="").read() if os.path.isfile(k) else k
            if text.startswith("PRIVATE+KEY+"):
                raise ValueError("--fleet-key %s is a private key; pass the worker host's public key" % k)
            fleet_keys.append(Key(text.strip()))
    except (OSError, ValueError) as e:
        sys.stderr.write("verify.py: %s\n" % e)
        return 1
    if (a.fleet_key or a.fleet_strict) and not a.fleet:
        sys.stderr.write("verify.py: --fleet-key and --fleet-strict go with --fleet\n")
        return 1
    if a.inclusion_proof or a.consistency_proof:
        if a.dir or (a.inclusion_proof and a.consistency_proof) or (a.consistency_proof and not a.old_checkpoint):
            sys.stderr.write("verify.py: give one proof and no log directory (a consistency proof needs --old-checkpoint)\n")
            return 1
        return main_proof(a, trusted)
    if not a.dir or not os.path.isdir(a.dir):
        sys.stderr.write("verify.py: %s: no such log directory\n" % a.dir)
        return 1
    seen = []  # (verifier, seq, body) of remote_result records

    def collect(v, where):
        def on(seq, kind, body):
            if kind == "remote_result":
                seen.append((v, seq, body))

        v.on_record = on

    out, err = verify_dir(a.dir, trusted, since, a.allow_unsigned_tail, collect if a.fleet else None)
    v = out.pop("_verifier")
    fleet = None
    if a.fleet:
        run_records = [(seq, body) for w, seq, body in seen if authenticated(w, trusted, seq)]
        try:
            fleet = check_fleet(run_records, a.fleet, fleet_keys, a.fleet_strict, a.allow_unsigned_tail)
        except (OSError, ValueError) as e:
            sys.stderr.write("verify.py: %s\n" % e)
            return 1
        out["fleet"] = fleet
        if err is None and fleet["failures"]:
            first = fleet["failures"][0]
            err = Fail(first["code"], "%s (task %s, worker %s)" % (first["reason"], first["task"], first["worker"]), seq=first["seq"])
            out.update({"verdict": "fail", "code": err.code, "reason": err.reason, "seq": err.seq, "segment": None, "offset": None})
    if a.json:
        print(json.dumps(out, sort_keys=True))
    else:
        if err:
            print("FAIL [%s] %s (segment %s, offset %s, seq %s)" % (err.code, err.reason, err.segment, err.offset, err.seq))
        else:
            if v.pruned:
                print("pruned: records 0..%d removed (FORMAT.md section 14); verified from the checkpoint of %d records" % (v.pruned - 1, v.pruned))
            print("OK: %d records, %d checkpoints, %d unsigned, keys %s" % (v.next_seq - (v.pruned or 0), v.checkpoints, out["unsigned_tail"], ",".join(out["keys"])))
            if trusted is None:
                print("UNAUTHENTICATED: no --trusted-key; this proves nothing about who wrote the log")
            else:
                print("authenticated by %s: %d records" % (trusted.id.hex(), out["authenticated_records"]))
            if v.torn:
                print("torn tail: %s offset %d, %d bytes (ignored)" % v.torn)
        for f, n, r in v.adopted:
            print("records %d..=%d adopted unsigned by record %d: not authenticated" % (f, f + n - 1, r))
        if fleet is not None:
            print("fleet: %d remote result(s), %d confirmed by %d worker log(s)" % (fleet["results"], fleet["confirmed"], len(fleet["logs"])))
            for x in fleet["failures"]:
                print("  FAIL [%s] record %d, task %s, worker %s: %s" % (x["code"], x["seq"], x["task"], x["worker"], x["reason"]))
            for x in fleet["warnings"]:
                print("  warning [%s] record %d, task %s, worker %s: %s" % (x["code"], x["seq"], x["task"], x["worker"], x["reason"]))
    return 4 if err else 0


if __name__ == "__main__":
    sys.exit(main())
