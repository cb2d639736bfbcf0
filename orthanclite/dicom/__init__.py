"""DICOM parsing, identifiers and value decoding (pydicom based, no I/O policy)."""
