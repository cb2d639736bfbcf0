"""Streaming ZIP archives and DICOMDIR media of patients, studies and series."""
