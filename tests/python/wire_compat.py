"""Independent check of the UserAction wire format with Google's protobuf runtime.

Compiles proto/ (actionlog's IDL) and the seed's original 8-field IDL with protoc from
grpcio-tools, then:
  1. decodes the length-delimited file Rust wrote, with both IDLs, and compares every field
     with the shared fixture (the seed IDL must read fields 1-8 and keep 9-11 as unknown);
  2. encodes the fixture with both IDLs into files that the Rust side decodes.

Usage: wire_compat.py PROTO_DIR SEED_PROTO FIXTURE RUST_FILE OUT_DIR
Exits non-zero with a message on the first mismatch.
"""

import importlib
import json
import os
import subprocess
import sys
import tempfile

FIELDS_V0 = ["host_name", "start_epoch_ms", "end_epoch_ms", "pos_args_json",
             "keyword_args_json", "output", "error", "user"]
FIELDS_V1 = FIELDS_V0 + ["command", "trace_id", "span_id"]


def compile_protos(proto_dir, seed_proto, out_dir):
    import grpc_tools
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    seed_dir = os.path.dirname(seed_proto)
    cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_dir}", f"-I{seed_dir}",
           f"-I{wkt}", f"--python_out={out_dir}",
           "actionlog/v1/user_action.proto", "common/long_string.proto",
           os.path.basename(seed_proto)]
    subprocess.run(cmd, check=True)
    sys.path.insert(0, out_dir)
    v1 = importlib.import_module("actionlog.v1.user_action_pb2")
    v0 = importlib.import_module(os.path.basename(seed_proto)[:-len(".proto")] + "_pb2")
    return v1.UserAction, v0.UserAction


def expected_value(case, field):
    value = case.get(field)
    if value == "LARGE":
        return "x" * 300000
    return value


def read_varint(data, pos):
    shift = result = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def write_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def split_delimited(data):
    pos, records = 0, []
    while pos < len(data):
        n, pos = read_varint(data, pos)
        records.append(data[pos:pos + n])
        pos += n
    return records


def check(msg, case, fields):
    for f in fields:
        want = expected_value(case, f)
        if want is None:
            if msg.HasField(f):
                raise SystemExit(f"{case['name']}: field {f} should be absent, got {getattr(msg, f)!r}")
            continue
        if not msg.HasField(f):
            raise SystemExit(f"{case['name']}: field {f} missing, want {want!r}")
        got = getattr(msg, f).value
        if got != want:
            raise SystemExit(f"{case['name']}: field {f}: got {got!r}, want {want!r}")


def build(cls, case, fields):
    msg = cls()
    for f in fields:
        want = expected_value(case, f)
        if want is not None:
            getattr(msg, f).value = want
    return msg


def main():
    proto_dir, seed_proto, fixture, rust_file, out_dir = sys.argv[1:6]
    cases = json.load(open(fixture, encoding="utf-8"))
    with tempfile.TemporaryDirectory() as gen:
        v1, v0 = compile_protos(proto_dir, seed_proto, gen)
        records = split_delimited(open(rust_file, "rb").read())
        if len(records) != len(cases):
            raise SystemExit(f"Rust wrote {len(records)} records, fixture has {len(cases)}")
        for raw, case in zip(records, cases):
            new = v1.FromString(raw)
            check(new, case, FIELDS_V1)
            old = v0.FromString(raw)
            check(old, case, FIELDS_V0)
            # Both re-encode to the very same bytes: the 8-field consumer keeps actionlog's
            # additions (fields 9-11, written last) as unknown fields instead of dropping them.
            if new.SerializeToString() != raw:
                raise SystemExit(f"{case['name']}: re-encoding with actionlog's IDL changed the bytes")
            if old.SerializeToString() != raw:
                raise SystemExit(f"{case['name']}: the 8-field IDL did not preserve fields 9-11")
        with open(os.path.join(out_dir, "python_v1.pb"), "wb") as f:
            for case in cases:
                body = build(v1, case, FIELDS_V1).SerializeToString()
                f.write(write_varint(len(body)) + body)
        with open(os.path.join(out_dir, "python_v0.pb"), "wb") as f:
            for case in cases:
                body = build(v0, case, FIELDS_V0).SerializeToString()
                f.write(write_varint(len(body)) + body)
    print(f"python protobuf checked {len(cases)} records with both IDLs")


if __name__ == "__main__":
    main()
