"""Assembly of the FastAPI application: context, routers, middleware, errors."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from orthanclite import __version__
from orthanclite.api import archive, content, images, instances, resources, system
from orthanclite.api import changes, resource_info, tools
from orthanclite.api.errors import UnexpectedErrorMiddleware, register_error_handlers
from orthanclite.api.middleware import GzipJSONMiddleware, NormalizePathMiddleware
from orthanclite.api.security import AccessControlMiddleware
from orthanclite.config import Settings
from orthanclite.context import ServerContext
from orthanclite.shared import SharedSettings

logger = logging.getLogger(__name__)


def _remote_clients(settings: Settings) -> str:
    if settings.remote_access_allowed:
        return "accepted"
    if settings.authentication_required:
        return "accepted with credentials"
    return "rejected"


def create_app(
    settings: Settings | None = None, shared: SharedSettings | None = None
) -> FastAPI:
    """Build the application; the context opens when the server starts.

    The command line passes ``shared`` after it has prepared the data folder
    once for all worker processes. Without it, the application prepares the
    data folder at start-up.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = ServerContext(settings, shared)
        if shared is None:
            await run_in_threadpool(context.prepare_data_folder)
        app.state.context = context
        logger.info(
            "orthanclite %s started (process %d): storage %s, index %s, REST API of Orthanc %s, "
            "authentication %s, remote clients %s, stable age %d s, overwrite %s, "
            "quota %d MB / %d patients (%s)",
            __version__,
            os.getpid(),
            settings.storage_dir.resolve(),
            context.engine.url.render_as_string(hide_password=True),
            settings.orthanc_version,
            "on" if settings.authentication_required else "off",
            _remote_clients(settings),
            settings.stable_age,
            settings.overwrite_instances,
            settings.maximum_storage_size,
            settings.maximum_patient_count,
            settings.maximum_storage_mode,
        )
        try:
            yield
        finally:
            context.close()
            logger.info("orthanclite stopped (process %d)", os.getpid())

    app = FastAPI(
        title="orthanclite",
        version=__version__,
        description="DICOM archive with Orthanc's REST API.",
        lifespan=lifespan,
        redirect_slashes=False,
    )
    register_error_handlers(app)
    app.include_router(system.router)
    app.include_router(instances.router)
    app.include_router(resources.router)
    app.include_router(tools.router)
    app.include_router(changes.router)
    app.include_router(resource_info.router)
    app.include_router(content.router)
    app.include_router(images.router)
    app.include_router(archive.router)
    # Uploads are the busiest route: serve them first as a plain Starlette
    # route, which skips FastAPI's request parsing and dependency solving.
    # The FastAPI route stays for the OpenAPI description.
    app.router.routes.insert(
        0, Route("/instances", instances.upload_instances, methods=["POST"])
    )
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(GzipJSONMiddleware)
    app.add_middleware(NormalizePathMiddleware)
    app.add_middleware(AccessControlMiddleware, settings=settings)
    return app
