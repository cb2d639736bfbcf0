"""Benchmarks of orthanclite against the real Orthanc, run by ``make bench``."""
