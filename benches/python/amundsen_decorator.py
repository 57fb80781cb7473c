"""Per-call cost of Amundsen's real `action_logging` decorator (benchmark reference).

Loads `amundsen_application/log/action_log.py` and `action_log_callback.py` from the
installed `amundsen-frontend` wheel *without* running the package's `__init__` (which
builds the whole Flask app and needs dozens of dependencies): the package is registered as
a bare namespace pointing at the real directory, so the real decorator code runs, with a
Flask app context and `AUTH_USER_METHOD = None` (the OS-user path), and one no-op
post-execution callback, as the benchmark specifies.

Prints one JSON line: {"ns_per_call": ..., "calls": ..., "python": ...}.
Usage: amundsen_decorator.py [CALLS]
"""

import importlib.util
import json
import os
import sys
import time
import types


def load_real_decorator():
    spec = importlib.util.find_spec("amundsen_application")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("amundsen-frontend is not installed")
    pkg_dir = list(spec.submodule_search_locations)[0]
    pkg = types.ModuleType("amundsen_application")
    pkg.__path__ = [pkg_dir]
    sys.modules["amundsen_application"] = pkg
    # The wheel registers its own debug-logging callback through an entry point whose
    # requirement check needs every dependency of the full app; the benchmark wants exactly
    # one no-op callback, so entry-point discovery is switched off while the module loads.
    import pkg_resources
    real_iter = pkg_resources.iter_entry_points
    pkg_resources.iter_entry_points = lambda *a, **k: iter(())
    try:
        from amundsen_application.log import action_log, action_log_callback  # noqa: E402
    finally:
        pkg_resources.iter_entry_points = real_iter
    return action_log, action_log_callback


def main():
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    action_log, callbacks = load_real_decorator()
    import flask

    app = flask.Flask("bench")
    app.config["AUTH_USER_METHOD"] = None
    callbacks.register_post_exec_callback(lambda params: None)

    @action_log.action_logging
    def _get_table_metadata(*, table_key, index, source):
        return len(table_key) + len(source) + index

    with app.app_context():
        for _ in range(min(calls, 10_000)):  # warm-up
            _get_table_metadata(table_key="hive://gold.core/rides", index=3, source="search_results")
        best = None
        for _ in range(5):
            start = time.perf_counter_ns()
            for _ in range(calls):
                _get_table_metadata(table_key="hive://gold.core/rides", index=3, source="search_results")
            elapsed = (time.perf_counter_ns() - start) / calls
            best = elapsed if best is None else min(best, elapsed)
    print(json.dumps({"ns_per_call": round(best, 1), "calls": calls, "python": sys.version.split()[0],
                      "module": os.path.relpath(action_log.__file__, os.path.dirname(os.path.dirname(action_log.__file__)))}))


if __name__ == "__main__":
    main()
