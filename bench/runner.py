"""Run every scenario on orthanclite and, when installed, on Orthanc.

Each step runs on both servers one after the other, and the order flips at
every step, so slow moments of the machine hit both servers alike. An ingest
into an empty archive always starts from freshly started servers.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import scenarios
from bench.corpus import CorpusFile, CorpusSpec, generate_corpus, write_large_multiframe
from bench.servers import (
    SETTLE_SECONDS,
    OrthancliteServer,
    OrthancServer,
    Server,
    orthanc_available,
)

logger = logging.getLogger(__name__)

# Seeds of the corpora: the empty-archive ingests share one corpus; the
# ingests into the filled archive need new UIDs, so they get other seeds.
FILL_SEED_OFFSET = 1000
FILLED_1_CLIENT_SEED_OFFSET = 2000
FILLED_4_CLIENTS_SEED_OFFSET = 3000
IMAGE_KINDS = ("CT", "MR", "US")


class Run:
    """One benchmark run: its servers, its corpus and the results so far."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        base = Path(options.workdir) if options.workdir else None
        self.workdir = Path(tempfile.mkdtemp(prefix="orthanclite-bench-", dir=base))
        self.server_types: list[type[Server]] = [OrthancliteServer]
        if options.orthanc and orthanc_available():
            self.server_types.append(OrthancServer)
        elif options.orthanc:
            logger.warning("Orthanc is not installed; measuring orthanclite alone")
        self.servers: list[Server] = []
        self.turn = 0
        self.results: dict[str, Any] = {
            "servers": [kind.name for kind in self.server_types],
            "versions": {},
            "scenarios": {},
        }
        self.spec = CorpusSpec(
            patients=options.patients,
            studies_per_patient=options.studies,
            series_per_study=options.series,
            instances_per_series=options.instances,
            seed=options.seed,
        )

    # -- servers -----------------------------------------------------------

    def start_servers(self) -> dict[str, int]:
        """Start fresh servers; return the idle memory of each."""
        self.stop_servers()
        self.servers = [kind(self.workdir) for kind in self.server_types]
        for server in self.servers:
            server.start()
            self.results["versions"][server.name] = server.version
        time.sleep(SETTLE_SECONDS)
        return {server.name: server.rss_bytes() for server in self.servers}

    def stop_servers(self) -> None:
        for server in self.servers:
            server.stop()
            if not self.options.keep:
                server.remove_files()
        self.servers = []

    def in_turn(self) -> Iterator[Server]:
        """Yield the servers, in the reverse order of the previous call."""
        order = self.servers if self.turn % 2 == 0 else list(reversed(self.servers))
        self.turn += 1
        yield from order

    def each(self, step: Callable[[Server], Any]) -> dict[str, Any]:
        return {server.name: step(server) for server in self.in_turn()}

    # -- scenarios ---------------------------------------------------------

    def execute(self) -> dict[str, Any]:
        try:
            self._execute()
        finally:
            self.stop_servers()
            if not self.options.keep:
                shutil.rmtree(self.workdir, ignore_errors=True)
        return self.results

    def _execute(self) -> None:
        scenario = self.results["scenarios"]
        corpus = list(generate_corpus(self.spec))
        files = [item.data for item in corpus]
        logger.info(
            "Corpus: %d instances, %.1f MB", len(files), sum(map(len, files)) / 1e6
        )
        self.results["corpus"] = corpus_summary(corpus)

        memory: dict[str, Any] = {}
        memory["idle"] = self.start_servers()
        logger.info("Scenario 1: ingest into an empty archive, 1 client")
        ingest: dict[str, Any] = {"empty": {}, "filled": {}}
        ingest["empty"]["1"] = self.each(
            lambda server: scenarios.ingest(server, files, 1)
        )
        self.start_servers()
        logger.info("Scenario 1: ingest into an empty archive, 4 clients")
        ingest["empty"]["4"] = self.each(
            lambda server: scenarios.ingest(server, files, 4)
        )
        scenario["ingest"] = ingest

        logger.info("Scenario 3: /instances/{id}, /tags and /preview latency")
        answers = ingest["empty"]["4"][self.servers[0].name]["public_ids"]
        image_ids = [
            public_id
            for item, public_id in zip(corpus, answers, strict=True)
            if public_id and item.kind in IMAGE_KINDS
        ]
        samples = self.options.samples
        scenario["resources"] = self.each(
            lambda server: scenarios.resource_latency(server, image_ids, samples)
        )

        fill = scenarios.FillSet(self.options.seed + FILL_SEED_OFFSET)
        corpus_patients = sorted({item.patient_id for item in corpus})
        corpus_sops = [item.sop_uid for item in corpus]
        scenario["find"] = {}
        for size in sorted({self.options.small_archive, self.options.fill}):
            count = max(0, size - len(files) - fill.count)
            logger.info("Filling the archives to %d instances", size)
            if count:
                batch = fill.next_batch(count)
                ingest.setdefault("fill", {})[str(size)] = self.each(
                    lambda server, batch=batch: _without_ids(
                        scenarios.ingest(server, batch, 4)
                    )
                )
                del batch
            logger.info(
                "Scenario 2: /tools/find and /tools/lookup at %d instances", size
            )
            patients = corpus_patients + fill.patient_ids()
            sops = corpus_sops + [fill.sop_uid(i) for i in range(0, fill.count, 7)]
            scenario["find"][str(size)] = self.each(
                lambda server, patients=patients, sops=sops: scenarios.query_latency(
                    server, patients, sops, samples
                )
            )
        time.sleep(SETTLE_SECONDS)
        memory["after_fill"] = {
            server.name: server.rss_bytes() for server in self.servers
        }
        memory["after_fill_instances"] = len(files) + fill.count
        scenario["memory"] = memory

        ingest["filled"]["instances_before"] = len(files) + fill.count
        for clients, offset in (
            (1, FILLED_1_CLIENT_SEED_OFFSET),
            (4, FILLED_4_CLIENTS_SEED_OFFSET),
        ):
            logger.info(
                "Scenario 1: ingest into the filled archive, %d client(s)", clients
            )
            more = [item.data for item in generate_corpus(self._spec_with_seed(offset))]
            ingest["filled"][str(clients)] = self.each(
                lambda server, more=more, clients=clients: _without_ids(
                    scenarios.ingest(server, more, clients)
                )
            )
        for run in ingest["empty"].values():
            for result in run.values():
                result.pop("public_ids", None)

        scenario["archive"] = self._archive_scenario()
        if self.options.large_upload_mb:
            scenario["large_upload"] = self._large_upload()

    def _spec_with_seed(self, offset: int) -> CorpusSpec:
        spec = self.spec
        return CorpusSpec(
            spec.patients,
            spec.studies_per_patient,
            spec.series_per_study,
            spec.instances_per_series,
            spec.seed + offset,
        )

    def _archive_scenario(self) -> dict[str, Any]:
        """Scenario 4, measured by the module ``bench.archive_memory`` when present.

        A module function ``run(servers, workdir, options)`` receives the
        running servers (``Server`` objects: name, host, port, pid,
        ``rss_bytes()``) and returns a JSON-ready dict keyed by server name.
        Without it, the module's ``upload_study`` and ``download`` functions
        are used to upload one study and download its archive.
        """
        size_mb = self.options.archive_study_mb
        if not size_mb:
            return {
                "available": False,
                "reason": "not requested (option --archive-study-mb)",
            }
        if importlib.util.find_spec("bench.archive_memory") is None:
            return {
                "available": False,
                "reason": "bench.archive_memory is not installed",
            }
        logger.info("Scenario 4: archive of a %d MiB study", size_mb)
        module = importlib.import_module("bench.archive_memory")
        if hasattr(module, "run"):
            return {
                "available": True,
                **module.run(self.servers, self.workdir, self.options),
            }
        results: dict[str, Any] = {"available": True}
        for server in self.in_turn():
            try:
                results[server.name] = _archive_download(module, server, size_mb)
            except Exception as error:  # the module is maintained separately
                logger.error("Archive scenario failed on %s: %s", server.name, error)
                first_line = (str(error).splitlines() or [type(error).__name__])[0]
                results[server.name] = {"error": first_line[:200]}
        return results

    def _large_upload(self) -> dict[str, Any]:
        size_mb = self.options.large_upload_mb
        logger.info("Scenario 5: upload of one %d MiB multi-frame file", size_mb)
        path = self.workdir / "large.dcm"
        write_large_multiframe(path, size_mb, self.options.seed)
        try:
            return self.each(lambda server: scenarios.large_upload(server, path))
        finally:
            path.unlink()


def _archive_download(module: Any, server: Server, size_mb: int) -> dict[str, Any]:
    """Upload a study of ``size_mb`` MiB in 512 KiB instances; download its archive."""
    url = f"http://{server.host}:{server.port}"
    study, total = module.upload_study(url, max(1, size_mb * 2), 512)
    result = module.download(url, f"/studies/{study}/archive", server.pid)
    return {
        "study_megabytes": round(total / 1e6, 1),
        "seconds": result["seconds"],
        "megabytes_per_second": round(total / 1e6 / result["seconds"], 1),
        "first_byte_ms": result["first_byte_ms"],
        "memory_growth_megabytes": round(
            result["rss_peak_mb"] - result["rss_before_mb"], 1
        ),
    }


def corpus_summary(corpus: list[CorpusFile]) -> dict[str, Any]:
    kinds: dict[str, dict[str, int]] = {}
    for item in corpus:
        entry = kinds.setdefault(item.kind, {"instances": 0, "bytes": 0})
        entry["instances"] += 1
        entry["bytes"] += len(item.data)
    return {
        "instances": len(corpus),
        "bytes": sum(entry["bytes"] for entry in kinds.values()),
        "patients": len({item.patient_id for item in corpus}),
        "studies": len({item.study_uid for item in corpus}),
        "series": len({item.series_uid for item in corpus}),
        "kinds": kinds,
    }


def _without_ids(result: dict[str, Any]) -> dict[str, Any]:
    result.pop("public_ids", None)
    return result
