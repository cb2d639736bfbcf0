"""Routes about the server itself: /system and /statistics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from orthanclite import __version__
from orthanclite.api.deps import ContextDep
from orthanclite.api.responses import OrthancJSONResponse, json_response

router = APIRouter(default_response_class=OrthancJSONResponse, tags=["System"])

# Version of the index schema that Orthanc 1.10.1 reports.
DATABASE_VERSION = 6


@router.get("/system")
async def get_system(context: ContextDep) -> OrthancJSONResponse:
    """Describe the server: Orthanc version emulated, API version, ports."""
    settings = context.settings
    return json_response(
        {
            "ApiVersion": settings.api_version,
            "CheckRevisions": False,
            "DatabaseBackendPlugin": None,
            "DatabaseVersion": DATABASE_VERSION,
            "DicomAet": "ORTHANC",
            "DicomPort": 4242,
            "HttpPort": settings.port,
            "IsHttpServerSecure": True,
            "Name": settings.name,
            "OrthancLiteVersion": __version__,
            "PluginsEnabled": False,
            "StorageAreaPlugin": None,
            "Version": settings.orthanc_version,
        }
    )


@router.get("/statistics")
async def get_statistics(context: ContextDep) -> OrthancJSONResponse:
    """Count the resources and add up the size of the stored files."""
    return json_response(await run_in_threadpool(context.statistics))


@router.get("/", include_in_schema=False)
async def redirect_root() -> RedirectResponse:
    """Send browsers to the interactive API documentation."""
    return RedirectResponse("/docs", status_code=302)
