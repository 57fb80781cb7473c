"""Writes the seed corpus of the fuzz targets (fuzz/corpus/<target>/seed-*).

Run with the test venv's Python (target/pyenv/bin/python fuzz/seeds.py); the seeds are
committed. They are built with Google's protobuf and the OpenTelemetry proto classes, not
with our code, so they are what a real peer sends.
"""
import base64
import json
import os
import struct
import sys

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

HERE = os.path.dirname(os.path.abspath(__file__))


def kv(key, value):
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


ACTIONS = [
    dict(command="_get_table_metadata", user="ada@example.com",
         pos="[]", kw='{"table_key": "hive://gold.core/rides", "index": 0, "source": "search_results"}',
         out='{"status": "ok"}', err=None),
    dict(command="_search_table", user="bob@example.com",
         pos='["rides"]', kw='{"search_term": "rides", "page_index": 1, "filters": {"password": "x"}}',
         out=None, err="ValueError: bad page"),
    dict(command="update_table_description", user="", pos="[1, 2.5, null, [true]]",
         kw="{not json", out="\u00e9\u00e8\u20ac", err=None),
]


def span(i, a):
    attrs = [kv("action_log.command", a["command"]), kv("action_log.pos_args_json", a["pos"]),
             kv("action_log.keyword_args_json", a["kw"])]
    if a["user"]:
        attrs.append(kv("enduser.id", a["user"]))
    if a["out"] is not None:
        attrs.append(kv("action_log.output", a["out"]))
    s = Span(trace_id=bytes([i + 1] * 16), span_id=bytes([i + 1] * 8), name=a["command"],
             kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=1_700_000_000_000_000_000 + i,
             end_time_unix_nano=1_700_000_000_250_000_000 + i, attributes=attrs)
    if a["err"]:
        s.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=a["err"]))
        ev = s.events.add(name="exception", time_unix_nano=s.end_time_unix_nano)
        ev.attributes.extend([kv("exception.type", a["err"].split(":")[0]),
                              kv("exception.message", a["err"])])
    return s


def request(actions):
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([kv("host.name", "amundsen-frontend-1"),
                                   kv("service.name", "amundsen")])
    ss = rs.scope_spans.add()
    ss.scope.name = "actionlog"
    ss.spans.extend(span(i, a) for i, a in enumerate(actions))
    plain = ss.spans.add(trace_id=bytes([9] * 16), span_id=bytes([9] * 8), name="GET /api")
    plain.attributes.append(kv("http.request.method", "GET"))
    return req


def otlp_json(req):
    """OTLP/JSON (hex ids, camelCase, int64 as strings) from the protobuf message."""
    from google.protobuf import json_format

    doc = json_format.MessageToDict(req, use_integers_for_enums=True)

    def fix(o):
        if isinstance(o, dict):
            for k, v in list(o.items()):
                if k in ("traceId", "spanId", "parentSpanId"):
                    o[k] = base64.b64decode(v).hex()
                else:
                    fix(v)
        elif isinstance(o, list):
            for v in o:
                fix(v)
    fix(doc)
    return json.dumps(doc).encode()


def user_action(i, a):
    from actionlog.v1.user_action_pb2 import UserAction  # compiled by main()

    ua = UserAction()
    ua.host_name.value = "amundsen-frontend-1"
    ua.start_epoch_ms.value = 1_700_000_000_000 + i
    ua.end_epoch_ms.value = 1_700_000_000_250 + i
    ua.pos_args_json.value = a["pos"]
    ua.keyword_args_json.value = a["kw"]
    ua.user.value = a["user"]
    ua.command.value = a["command"]
    ua.trace_id.value = f"{i + 1:02x}" * 16
    ua.span_id.value = f"{i + 1:02x}" * 8
    if a["out"] is not None:
        ua.output.value = a["out"]
    if a["err"]:
        ua.error.value = a["err"]
    return ua.SerializeToString()


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def write(target, name, data):
    with open(os.path.join(HERE, "corpus", target, f"seed-{name}"), "wb") as f:
        f.write(data)


def main():
    import subprocess
    import tempfile

    gen = tempfile.mkdtemp()
    proto = os.path.join(HERE, "..", "proto")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{proto}", f"--python_out={gen}",
                    "actionlog/v1/user_action.proto", "common/long_string.proto"], check=True)
    sys.path.insert(0, gen)
    for n in (1, 3):
        req = request(ACTIONS[:n])
        write("otlp_proto", f"{n}-actions", req.SerializeToString())
        write("otlp_json", f"{n}-actions", otlp_json(req))
    write("otlp_proto", "empty", b"")
    write("otlp_json", "empty-object", b"{}")
    records = [user_action(i, a) for i, a in enumerate(ACTIONS)]
    write("length_delimited", "3-records", b"".join(varint(len(r)) + r for r in records))
    write("length_delimited", "empty", b"")
    for i, r in enumerate(records):
        write("kafka_value", f"plain-{i}", r)
        # Schema Registry framing: magic 0, schema id (big endian), message-index [0] as 0.
        write("kafka_value", f"framed-{i}", b"\x00" + struct.pack(">I", 7) + b"\x00" + r)


if __name__ == "__main__":
    main()
