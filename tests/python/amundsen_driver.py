"""Drives the Amundsen plugin (examples/amundsen-plugin) the way Amundsen's frontend does:
loads the callback registered in the `action_log.post_exec.plugin` entry-point group and
calls it with `ActionLogParams` records. No Flask, no Amundsen install: the record class
below mirrors amundsen_application/log/action_log_model.py.

Usage: amundsen_driver.py PLUGIN_DIR  (ACTIONLOG_BRIDGE_ENDPOINT points at the bridge)
Prints the records it sent as JSON.
"""

import json
import sys
import tomllib
from importlib.metadata import EntryPoint


class ActionLogParams:
    """Amundsen's action record, same constructor and attributes."""

    def __init__(self, *, command, start_epoch_ms, end_epoch_ms=None, user, host_name,
                 pos_args_json, keyword_args_json, output=None, error=None):
        self.command = command
        self.start_epoch_ms = start_epoch_ms
        self.end_epoch_ms = end_epoch_ms
        self.user = user
        self.host_name = host_name
        self.pos_args_json = pos_args_json
        self.keyword_args_json = keyword_args_json
        self.output = output
        self.error = error


def main():
    plugin_dir = sys.argv[1]
    sys.path.insert(0, plugin_dir)
    with open(f"{plugin_dir}/pyproject.toml", "rb") as f:
        eps = tomllib.load(f)["project"]["entry-points"]["action_log.post_exec.plugin"]
    callbacks = [EntryPoint(name=n, value=v, group="action_log.post_exec.plugin").load()
                 for n, v in eps.items()]
    assert callbacks, "no post_exec plugin registered"

    t0 = 1_764_000_000_000
    records = [
        ActionLogParams(
            command="_search_resources", start_epoch_ms=t0, end_epoch_ms=t0 + 40,
            user="ada@example.com", host_name="amundsen-web-1", pos_args_json="[]",
            keyword_args_json=json.dumps({"search_term": "rides", "resources": ["table"],
                                          "page_index": 0, "results_per_page": 10}),
            output=json.dumps({"total_results": 42})),
        ActionLogParams(
            command="_get_table_metadata", start_epoch_ms=t0 + 100, end_epoch_ms=t0 + 130,
            user="ada@example.com", host_name="amundsen-web-1", pos_args_json="[]",
            keyword_args_json=json.dumps({"table_key": "hive://gold.core/rides", "index": 3,
                                          "source": "search_results"}),
            output=json.dumps({"ok": True})),
        ActionLogParams(
            command="_log_update_table_tags", start_epoch_ms=t0 + 200, end_epoch_ms=t0 + 210,
            user="bob@example.com", host_name="amundsen-web-2", pos_args_json="[]",
            keyword_args_json=json.dumps({"table_key": "hive://gold.core/rides",
                                          "method": "PUT", "tag": "pii"}),
            error=PermissionError("not an owner")),
    ]
    for record in records:
        for callback in callbacks:
            callback(record)
    # A broken record must not raise out of the callback (Amundsen would log and go on).
    for callback in callbacks:
        callback(object())

    import actionlog_amundsen
    ok = actionlog_amundsen.flush()
    actionlog_amundsen.shutdown()
    json.dump([
        {"command": r.command, "user": r.user, "host_name": r.host_name,
         "start_epoch_ms": r.start_epoch_ms, "end_epoch_ms": r.end_epoch_ms,
         "keyword_args_json": r.keyword_args_json, "output": r.output,
         "error": None if r.error is None else f"{type(r.error).__name__}: {r.error}"}
        for r in records], sys.stdout)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
