"""Describe the machine, and turn results into Markdown tables.

The tables replace the part of ``docs/benchmarks.md`` between two marker
comments, so the hand-written analysis around them stays in place.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

START_MARKER = "<!-- results:start -->"
END_MARKER = "<!-- results:end -->"
MB = 1e6
MIB = 1 << 20


def machine_description(folder: Path) -> dict[str, Any]:
    """CPU, memory, disk and software of this machine (Linux /proc)."""
    cpu_model = ""
    for line in _read_lines("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    memory_kib = 0
    for line in _read_lines("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    usage = shutil.disk_usage(folder)
    return {
        "cpu_model": cpu_model,
        "cpu_cores": os.cpu_count(),
        "memory_bytes": memory_kib * 1024,
        "disk": _filesystem_of(folder)
        | {"total_bytes": usage.total, "free_bytes": usage.free},
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "packages": {
            name: _package_version(name)
            for name in (
                "fastapi",
                "uvicorn",
                "pydicom",
                "sqlalchemy",
                "uvloop",
                "httptools",
            )
        },
    }


def _read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def _filesystem_of(folder: Path) -> dict[str, str]:
    """Device and type of the filesystem holding ``folder`` (longest mount match)."""
    target = str(folder.resolve())
    best = {"device": "", "mount_point": "", "type": ""}
    for line in _read_lines("/proc/mounts"):
        device, mount_point, fs_type = line.split()[:3]
        inside = target == mount_point or target.startswith(
            mount_point.rstrip("/") + "/"
        )
        if inside and len(mount_point) >= len(best["mount_point"]):
            best = {"device": device, "mount_point": mount_point, "type": fs_type}
    return best


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def write_markdown(path: Path, results: dict[str, Any]) -> None:
    """Put the result tables between the markers of ``path``, or create it."""
    tables = render(results)
    block = f"{START_MARKER}\n{tables}\n{END_MARKER}"
    if path.exists():
        text = path.read_text()
        if START_MARKER in text and END_MARKER in text:
            before = text.split(START_MARKER, 1)[0]
            after = text.split(END_MARKER, 1)[1]
            path.write_text(before + block + after)
            return
        path.write_text(text.rstrip("\n") + "\n\n" + block + "\n")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Benchmarks\n\n" + block + "\n")


def render(results: dict[str, Any]) -> str:
    servers = results["servers"]
    sections = [
        _render_setup(results),
        _render_ingest(results, servers),
        _render_find(results, servers),
        _render_resources(results, servers),
        _render_archive(results, servers),
        _render_memory(results, servers),
        _render_targets(results),
    ]
    return "\n\n".join(section for section in sections if section)


def _render_setup(results: dict[str, Any]) -> str:
    machine = results["machine"]
    disk = machine["disk"]
    corpus = results["corpus"]
    kinds = ", ".join(
        f"{entry['instances']} {kind} "
        f"({entry['bytes'] / entry['instances'] / MB:.3f} MB each)"
        for kind, entry in corpus["kinds"].items()
    )
    versions = ", ".join(
        f"{name} {version}" for name, version in results["versions"].items()
    )
    packages = ", ".join(
        f"{name} {version}" for name, version in machine["packages"].items()
    )
    return "\n".join(
        [
            f"Run of {results['started']} (UTC), {results['duration_seconds']:.0f} s.",
            "",
            f"- Command: `{results['command']}`",
            f"- Machine: {machine['cpu_cores']} cores ({machine['cpu_model']}), "
            f"{machine['memory_bytes'] / (1 << 30):.1f} GiB memory, "
            f"disk {disk['device']} "
            f"({disk['type']}, {disk['total_bytes'] / (1 << 30):.0f} GiB), "
            f"Linux {machine['kernel']}, Python {machine['python']}",
            f"- Servers (version reported by /system): {versions}",
            f"- orthanclite stack: {packages}",
            f"- Corpus: {corpus['instances']} instances, "
            f"{corpus['bytes'] / MB:.1f} MB, "
            f"{corpus['patients']} patients, {corpus['studies']} studies, "
            f"{corpus['series']} series: {kinds}",
            "- Ratio: orthanclite ÷ Orthanc. For rates higher is better; for "
            "latency and memory lower is better. MB = 10^6 bytes.",
        ]
    )


def _header(first: str, servers: list[str]) -> list[str]:
    columns = [first, *servers]
    if len(servers) > 1:
        columns.append("ratio")
    return ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]


def _row(label: str, values: list[Any], servers: list[str], digits: int = 1) -> str:
    cells = [_format(value, digits) for value in values]
    if len(servers) > 1:
        first, second = values[0], values[1]
        if (
            isinstance(first, int | float)
            and isinstance(second, int | float)
            and second
        ):
            cells.append(f"{first / second:.2f}")
        else:
            cells.append("–")
    return "| " + " | ".join([label, *cells]) + " |"


def _format(value: Any, digits: int) -> str:
    if value is None:
        return "not available"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _render_ingest(results: dict[str, Any], servers: list[str]) -> str:
    ingest = results["scenarios"].get("ingest")
    if not ingest:
        return ""
    lines = [
        "### 1. Ingest (POST /instances)",
        "",
        *_header("Archive, clients", servers),
    ]
    filled_size = ingest["filled"].get("instances_before", 0)
    for label, run in (
        ("empty", ingest["empty"]),
        (f"{filled_size} instances", ingest["filled"]),
    ):
        for clients in ("1", "4"):
            if clients not in run:
                continue
            per_server = run[clients]
            rates = [per_server[name]["instances_per_second"] for name in servers]
            speeds = [per_server[name]["megabytes_per_second"] for name in servers]
            lines.append(
                _row(f"{label}, {clients} client(s): instances/s", rates, servers)
            )
            lines.append(_row(f"{label}, {clients} client(s): MB/s", speeds, servers))
            cpu = [
                per_server[name].get("server_cpu_ms_per_instance") for name in servers
            ]
            lines.append(
                _row(
                    f"{label}, {clients} client(s): server CPU ms/instance",
                    cpu,
                    servers,
                    2,
                )
            )
    for size, per_server in ingest.get("fill", {}).items():
        rates = [per_server[name]["instances_per_second"] for name in servers]
        cpu = [per_server[name].get("server_cpu_ms_per_instance") for name in servers]
        label = f"fill to {size} (no pixel data), 4 clients"
        lines.append(_row(f"{label}: instances/s", rates, servers))
        lines.append(_row(f"{label}: server CPU ms/instance", cpu, servers, 2))
    failures = sum(
        result.get("failures", 0)
        for group in ("empty", "filled")
        for key, run in ingest[group].items()
        if key != "instances_before"
        for result in run.values()
    )
    if failures:
        lines += ["", f"{failures} uploads failed during the ingest runs."]
    return "\n".join(lines)


def _latency_rows(
    table: dict[str, dict[str, Any]], servers: list[str], label_prefix: str = ""
) -> list[str]:
    rows = []
    names = list(next(iter(table.values())).keys())
    for name in names:
        for measure in ("median_ms", "p95_ms"):
            values = []
            for server in servers:
                result = table[server][name]
                values.append(result.get(measure) if result.get("available") else None)
            label = f"{label_prefix}{name} {measure.removesuffix('_ms')} (ms)"
            rows.append(_row(label, values, servers, digits=2))
    return rows


def _render_find(results: dict[str, Any], servers: list[str]) -> str:
    find = results["scenarios"].get("find")
    if not find:
        return ""
    lines = ["### 2. /tools/find (study level) and /tools/lookup", ""]
    lines += _header("Query", servers)
    for size, table in find.items():
        lines += _latency_rows(table, servers, label_prefix=f"{size} instances: ")
    return "\n".join(lines)


def _render_resources(results: dict[str, Any], servers: list[str]) -> str:
    table = results["scenarios"].get("resources")
    if not table:
        return ""
    lines = ["### 3. One instance: /instances/{id}, /tags, /preview", ""]
    lines += _header("Route", servers)
    lines += _latency_rows(table, servers)
    return "\n".join(lines)


def _render_archive(results: dict[str, Any], servers: list[str]) -> str:
    lines = []
    archive = results["scenarios"].get("archive", {})
    lines += ["### 4. Study archive download", ""]
    if not archive.get("available"):
        lines.append(f"Not measured: {archive.get('reason', 'scenario not run')}.")
    else:
        lines += _header("Measure", servers)
        measures = sorted({key for name in servers for key in archive.get(name, {})})
        for measure in measures:
            values = [archive.get(name, {}).get(measure) for name in servers]
            lines.append(_row(measure, values, servers, digits=2))
    large = results["scenarios"].get("large_upload")
    lines += ["", "### 5. Upload of one large multi-frame file", ""]
    if not large:
        lines.append("Not measured in this run (option `--large-upload-mb`).")
    else:
        size = large[servers[0]]["bytes"] / MB
        lines += _header(f"{size:.0f} MB file", servers)
        for measure, label in (
            ("memory_growth_bytes", "peak memory growth (MB)"),
            ("seconds", "upload time (s)"),
        ):
            values = [large[name][measure] for name in servers]
            if measure.endswith("bytes"):
                values = [value / MB for value in values]
            lines.append(_row(label, values, servers))
        statuses = [str(large[name]["status"]) for name in servers]
        lines.append(_row("HTTP status", statuses, servers))
    return "\n".join(lines)


def _render_memory(results: dict[str, Any], servers: list[str]) -> str:
    memory = results["scenarios"].get("memory")
    if not memory:
        return ""
    lines = ["### 6. Server memory (proportional set size of its processes)", "", *_header("State", servers)]
    lines.append(
        _row(
            "idle after start (MB)", [memory["idle"][n] / MB for n in servers], servers
        )
    )
    lines.append(
        _row(
            f"after ingesting {memory['after_fill_instances']} instances (MB)",
            [memory["after_fill"][n] / MB for n in servers],
            servers,
        )
    )
    return "\n".join(lines)


def evaluate_targets(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Check the performance targets; return (target, measured, verdict) rows."""
    scenario = results["scenarios"]
    has_orthanc = "orthanc" in results["servers"]
    rows = _ingest_targets(scenario.get("ingest", {}), has_orthanc)
    rows += _latency_targets(scenario)
    rows += _archive_targets(scenario.get("archive", {}))
    large = scenario.get("large_upload", {}).get("orthanclite")
    if large:
        growth = large["memory_growth_bytes"] / MB
        met = growth < 200 and large["status"] == 200
        rows.append(
            ("large upload: memory growth < 200 MB", f"{growth:.0f} MB", _verdict(met))
        )
    return rows


def _ingest_targets(
    ingest: dict[str, Any], has_orthanc: bool
) -> list[tuple[str, str, str]]:
    rows = []
    for clients in ("1", "4"):
        run = ingest.get("empty", {}).get(clients)
        if run and has_orthanc:
            ratio = (
                run["orthanclite"]["instances_per_second"]
                / run["orthanc"]["instances_per_second"]
            )
            target = f"ingest, {clients} client(s): ≥ 1.5 × Orthanc"
            rows.append((target, f"{ratio:.2f} ×", _verdict(ratio >= 1.5)))

        filled = ingest.get("filled", {}).get(clients)
        if run and filled:
            own = (
                filled["orthanclite"]["instances_per_second"]
                / run["orthanclite"]["instances_per_second"]
            )
            size = ingest["filled"]["instances_before"]
            target = f"ingest at {size} instances, {clients} client(s): ≥ 90 % of empty"
            rows.append((target, f"{own * 100:.0f} %", _verdict(own >= 0.9)))
    return rows


def _archive_targets(archive: dict[str, Any]) -> list[tuple[str, str, str]]:
    ours, theirs = archive.get("orthanclite", {}), archive.get("orthanc", {})
    rows = []
    growth = ours.get("memory_growth_megabytes")
    if growth is not None:
        target = "archive: memory growth < 100 MB"
        rows.append((target, f"{growth:.0f} MB", _verdict(growth < 100)))
    speed, other = ours.get("megabytes_per_second"), theirs.get("megabytes_per_second")
    if speed is not None and other:
        target = "archive: throughput ≥ Orthanc"
        rows.append((target, f"{speed / other:.2f} ×", _verdict(speed >= other)))
    return rows


def _latency_targets(scenario: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for size, table in scenario.get("find", {}).items():
        # The 10 ms bound is the target at 100,000 instances.
        bounded = int(size) >= 100_000
        for name, result in table["orthanclite"].items():
            target = f"{name} at {size}: median ≤ Orthanc" + (
                ", < 10 ms" if bounded else ""
            )
            if not result.get("available"):
                rows.append((target, "not available", "not met"))
                continue
            median = result["median_ms"]
            other = table.get("orthanc", {}).get(name, {})
            met = (median < 10 or not bounded) and (
                not other.get("available") or median <= other["median_ms"]
            )
            rows.append((target, f"{median:.2f} ms", _verdict(met)))

    resources = scenario.get("resources", {})
    for name, result in resources.get("orthanclite", {}).items():
        if name == "instance":
            continue
        target = f"{name}: median ≤ Orthanc"
        other = resources.get("orthanc", {}).get(name, {})
        if not result.get("available"):
            rows.append((target, "not available", "not met"))
        elif other.get("available"):
            met = result["median_ms"] <= other["median_ms"]
            rows.append((target, f"{result['median_ms']:.2f} ms", _verdict(met)))
    return rows


def _verdict(met: bool) -> str:
    return "met" if met else "not met"


def _render_targets(results: dict[str, Any]) -> str:
    rows = evaluate_targets(results)
    if not rows:
        return ""
    lines = [
        "### Targets",
        "",
        "| Target | orthanclite | Verdict |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {target} | {measured} | {verdict} |" for target, measured, verdict in rows
    ]
    return "\n".join(lines)
