"""Independent Kafka consumer for the Kafka sink tests.

Reads every partition of a topic from the beginning with confluent-kafka (librdkafka's
Python client) and decodes each value with classes that protoc generates from proto/
(grpc_tools.protoc), not with actionlog's own code. Prints one JSON object per message:
partition, offset, key, headers and the decoded UserAction fields (wrappers unwrapped).

Stops after --expect messages plus a --linger period that would reveal extra ones, or
after --timeout seconds.
"""

import argparse
import importlib
import importlib.resources
import json
import pathlib
import sys
import tempfile
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from grpc_tools import protoc


def compile_protos(proto_dir: pathlib.Path, out: pathlib.Path):
    include = importlib.resources.files("grpc_tools") / "_proto"
    files = [str(p.relative_to(proto_dir)) for p in proto_dir.rglob("*.proto")]
    rc = protoc.main(["protoc", f"-I{proto_dir}", f"-I{include}", f"--python_out={out}", *files])
    if rc != 0:
        sys.exit(f"protoc failed with {rc}")
    sys.path.insert(0, str(out))
    return importlib.import_module("actionlog.v1.user_action_pb2").UserAction


def strip_framing(value: bytes) -> bytes:
    # Confluent wire format: magic 0, 4-byte schema id, message indexes ([0] as one 0 byte).
    if value and value[0] == 0:
        if value[5] != 0:
            sys.exit("unexpected message-index array")
        return value[6:]
    return value


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--linger", type=float, default=2)
    ap.add_argument("--proto-dir", default=str(pathlib.Path(__file__).parents[2] / "proto"))
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        UserAction = compile_protos(pathlib.Path(args.proto_dir), pathlib.Path(tmp))
        consumer = Consumer({
            "bootstrap.servers": args.brokers,
            "group.id": f"independent-{time.time_ns()}",
            "enable.auto.commit": False,
        })
        meta = consumer.list_topics(args.topic, timeout=10)
        parts = sorted(meta.topics[args.topic].partitions)
        consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in parts])
        seen = 0
        deadline = time.monotonic() + args.timeout
        stop_at = None
        while time.monotonic() < deadline and (stop_at is None or time.monotonic() < stop_at):
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                sys.exit(f"consumer error: {msg.error()}")
            action = UserAction()
            action.ParseFromString(strip_framing(msg.value()))
            fields = {}
            for f, v in action.ListFields():
                fields[f.name] = v.value
            print(json.dumps({
                "partition": msg.partition(),
                "offset": msg.offset(),
                "key": msg.key().decode() if msg.key() is not None else None,
                "headers": {k: v.decode() for k, v in (msg.headers() or [])},
                "action": fields,
            }))
            seen += 1
            if seen == args.expect:
                stop_at = time.monotonic() + args.linger
        consumer.close()
        print(f"consumed {seen} message(s)", file=sys.stderr)


if __name__ == "__main__":
    main()
