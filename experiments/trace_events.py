"""The kernels of a ``jax.profiler`` trace: what ``profile_step.py`` and
``backbone_speed.py --profile`` sum."""

from __future__ import annotations

# The trace names XLA:CPU's worker threads tf_XLAEigen/<id>.
XLA_CPU_WORKER = "XLAEigen"


def device_events(trace: dict) -> list[tuple[str, dict]]:
    """(thread name, event) for the complete events ("X") of the trace's GPU
    processes; with no GPU, the kernels on XLA:CPU's worker threads (not the
    Python frames, nor the executor's spans around the kernels)."""
    processes, threads = {}, {}
    for event in trace["traceEvents"]:
        if event.get("ph") == "M" and event.get("name") == "process_name":
            processes[event["pid"]] = event["args"]["name"]
        if event.get("ph") == "M" and event.get("name") == "thread_name":
            threads[event["pid"], event.get("tid")] = event["args"]["name"]
    gpu = {pid for pid, name in processes.items() if "gpu" in name.lower()}
    events = [
        (threads.get((event.get("pid"), event.get("tid")), "?"), event)
        for event in trace["traceEvents"]
        if event.get("ph") == "X"
    ]
    if gpu:
        return [(thread, event) for thread, event in events if event.get("pid") in gpu]
    return [
        (thread, event)
        for thread, event in events
        if XLA_CPU_WORKER in thread and not event["name"].startswith("ThunkExecutor")
    ]
