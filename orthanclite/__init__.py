"""orthanclite: a DICOM archive server with Orthanc's REST API."""

__version__ = "0.1.0"
