"""What a build moves besides its output, measured while it runs on the DirectRunner in this
process (what `cleancrawl plan` builds its sample on):

    with shuffle_meter() as shuffled, spill_meter(output) as spilled:
        run_build(config)
    shuffled.bytes, spilled.bytes

`shuffle_meter`: the bytes the workers hand to the runner's grouping buffers — the input of every
GroupByKey, CoGroupByKey and Reshuffle — through Beam's FnApiRunner (a private API: where it is
missing, `bytes` stays None). `spill_meter`: the bytes written to the run's spill files
(`OUT/_spill/`, `pipelines.spill`), each file's largest size seen, looked at every 50 ms; they
stay until the run's last step, so none is missed.
"""
from __future__ import annotations

import contextlib
import os
import threading
import types

from cleancrawl import layout


@contextlib.contextmanager
def shuffle_meter():
    meter = types.SimpleNamespace(bytes=None)
    try:
        from apache_beam.runners.portability.fn_api_runner import execution

        original = execution.BundleContextManager.get_buffer
    except (ImportError, AttributeError):
        yield meter
        return
    meter.bytes = 0
    lock = threading.Lock()

    def get_buffer(manager, buffer_id, transform_id):
        buffer = original(manager, buffer_id, transform_id)
        if buffer_id.startswith(b"group:") and not getattr(buffer, "_cleancrawl_metered", False):
            append = buffer.append

            def counting_append(data, append=append):
                with lock:
                    meter.bytes += len(data)
                return append(data)

            buffer.append, buffer._cleancrawl_metered = counting_append, True
        return buffer

    execution.BundleContextManager.get_buffer = get_buffer
    try:
        yield meter
    finally:
        execution.BundleContextManager.get_buffer = original


@contextlib.contextmanager
def spill_meter(output: str, every: float = 0.05):
    meter = types.SimpleNamespace(bytes=0)
    folder = os.path.join(output, layout.SPILL_DIR)
    sizes: dict[str, int] = {}
    done = threading.Event()

    def look() -> None:
        try:
            names = os.listdir(folder)
        except OSError:
            return
        for name in names:
            try:
                size = os.path.getsize(os.path.join(folder, name))
            except OSError:
                continue
            key = name.split(".tmp-")[0]
            sizes[key] = max(sizes.get(key, 0), size)

    def loop() -> None:
        while not done.wait(every):
            look()

    thread = threading.Thread(target=loop, name="cleancrawl-spill-meter", daemon=True)
    thread.start()
    try:
        yield meter
    finally:
        done.set()
        thread.join()
        look()
        meter.bytes = sum(sizes.values())
