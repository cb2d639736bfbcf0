"""Image routes' work: read an instance, decode a frame, render and encode it.

Every method blocks on disk I/O or CPU work, so the HTTP layer calls it from
worker threads. Datasets and decoded frames are kept in small LRU caches
keyed by the attachment UUID, which changes whenever an instance's file does.
"""

from __future__ import annotations

import atexit
import functools
import gzip
import logging
import multiprocessing
import os
import threading
import time
import weakref
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from orthanclite.context import ServerContext
from orthanclite.errors import ErrorCode, OrthancError
from orthanclite.imaging import encoding, frames, rendering
from orthanclite.imaging.frames import FrameIndexError, ImageDecodeError, ImageInfo

logger = logging.getLogger(__name__)

Mode = Literal["preview", "rendered", "image-uint8", "image-uint16", "image-int16"]
ImageFormat = Literal["png", "jpeg", "pam"]
MEDIA_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "pam": "image/x-portable-arbitrarymap",
}
CLIP_TYPES: dict[str, type[np.integer]] = {
    "image-uint8": np.uint8,
    "image-uint16": np.uint16,
    "image-int16": np.int16,
}
# Bytes of parsed files, decoded frames and encoded images that the caches keep.
DATASET_CACHE_BYTES = 64 * 1024 * 1024
FRAME_CACHE_BYTES = 64 * 1024 * 1024
ANSWER_CACHE_BYTES = 32 * 1024 * 1024
# NOTE: a file larger than DATASET_CACHE_BYTES is not cached, so it is read
# whole again for each frame request; pydicom can read one frame from a file,
# which is what very large multi-frame files need.
PDF_MEDIA_TYPE = "application/pdf"
# Compressed frames at least this large once decoded go to a worker process:
# the JPEG 2000 and JPEG-LS plugins hold the GIL while they decode, so in a
# thread they would stall every other request.
PROCESS_DECODE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """The parameters of one image request, already validated."""

    mode: Mode
    image_format: ImageFormat = "png"
    quality: int = 90
    # Center and width that replace those of the dataset's window, if given.
    window_center: float | None = None
    window_width: float | None = None
    width: int = 0
    height: int = 0
    smooth: bool = False


class _LRUCache:
    """A thread-safe LRU mapping that keeps at most ``capacity`` bytes."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return None
            self._items.move_to_end(key)
            return entry[0]

    def put(self, key: Any, value: Any, size: int) -> None:
        if size > self.capacity:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= old[1]
            self._items[key] = (value, size)
            self._size += size
            while self._size > self.capacity:
                _, (_, dropped) = self._items.popitem(last=False)
                self._size -= dropped


class ImageService:
    """Decodes and renders the frames of stored instances."""

    def __init__(self, context: ServerContext) -> None:
        self.context = context
        self.max_frame_bytes = context.settings.max_frame_size
        self._datasets = _LRUCache(DATASET_CACHE_BYTES)
        self._frames = _LRUCache(FRAME_CACHE_BYTES)
        self._answers = _LRUCache(ANSWER_CACHE_BYTES)
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _process_pool(self) -> ProcessPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                # "spawn" because forking a process that runs threads is unsafe.
                self._pool = ProcessPoolExecutor(
                    max_workers=min(4, os.cpu_count() or 1),
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_exit_with_parent,
                    initargs=(os.getpid(),),
                )
                atexit.register(self._pool.shutdown, wait=True, cancel_futures=True)
            return self._pool

    # -- reading -------------------------------------------------------------

    def dataset(self, public_id: str) -> tuple[str, Dataset]:
        """Return the attachment UUID and the whole dataset of an instance."""
        path, uuid = self.context.instance_file(public_id)
        dataset = self._datasets.get(uuid)
        if dataset is None:
            try:
                dataset = frames.read_dataset(str(path))
            except (InvalidDicomError, ValueError, EOFError, OSError) as error:
                logger.warning(
                    "Cannot read the file of instance %s: %s", public_id, error
                )
                raise OrthancError(
                    ErrorCode.BAD_FILE_FORMAT, f"Cannot read the DICOM file: {error}"
                ) from None
            self._datasets.put(uuid, dataset, path.stat().st_size)
        return uuid, dataset

    def frame_numbers(self, public_id: str) -> list[int]:
        """List the frame indexes of an instance, from Number of Frames."""
        _, dataset = self.dataset(public_id)
        return list(range(frames.listed_frame_count(dataset)))

    def image(self, public_id: str) -> tuple[str, Dataset, ImageInfo]:
        """Return the attachment UUID, the dataset and its Image Pixel module."""
        uuid, dataset = self.dataset(public_id)
        try:
            info = frames.image_info(dataset)
        except ImageDecodeError as error:
            raise _unsupported(public_id, error) from None
        except Exception as error:  # pydicom raises many types on malformed values
            raise _unsupported(
                public_id, ImageDecodeError(f"Invalid Image Pixel module: {error}")
            ) from None
        return uuid, dataset, info

    def decoded_frame(
        self, public_id: str, index: int, image_route: bool = True
    ) -> tuple[Dataset, ImageInfo, np.ndarray]:
        """Decode one frame, or take it from the cache.

        ``image_route`` selects the status of a frame number out of range:
        image routes and the numpy and matlab routes differ in Orthanc 1.10.1.
        """
        uuid, dataset, info = self.image(public_id)
        try:
            frames.check_frame(info, dataset, index, self.max_frame_bytes)
            key = (uuid, index)
            frame = self._frames.get(key)
            if frame is None:
                frame = self._decode(uuid, dataset, info, index)
                frame.flags.writeable = False
                self._frames.put(key, frame, frame.nbytes)
        except FrameIndexError as error:
            raise _frame_not_found(error, image_route) from None
        except ImageDecodeError as error:
            raise _unsupported(public_id, error) from None
        return dataset, info, frame

    def _decode(
        self, uuid: str, dataset: Dataset, info: ImageInfo, index: int
    ) -> np.ndarray:
        if not info.is_encapsulated or info.decoded_frame_bytes < PROCESS_DECODE_BYTES:
            return frames.decode_frame(dataset, info, index)
        path = str(self.context.storage.path(uuid))
        future = self._process_pool().submit(frames.decode_file_frame, path, index)
        try:
            return future.result()
        except BrokenProcessPool as error:
            # A worker died (killed, out of memory): start a new pool next time.
            logger.error(
                "Decoding worker failed on frame %d of file %s: %s", index, uuid, error
            )
            with self._pool_lock:
                self._pool = None
            raise ImageDecodeError(
                f"The decoding process of frame {index} failed"
            ) from None

    # -- responses -------------------------------------------------------------

    def render(
        self, public_id: str, index: int, options: RenderOptions
    ) -> tuple[bytes, str]:
        """Render and encode one frame; return the body and its media type.

        Encoded images are cached: viewers ask for the same previews again
        and again, and PNG encoding costs more than everything else.
        """
        uuid, _ = self.dataset(public_id)
        key = (uuid, index, options)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._render(public_id, index, options)
            self._answers.put(key, answer, len(answer[0]))
        return answer

    def _render(
        self, public_id: str, index: int, options: RenderOptions
    ) -> tuple[bytes, str]:
        dataset, info, frame = self.decoded_frame(public_id, index)
        pixels = self._pixels(dataset, info, frame, options)
        if options.image_format == "jpeg":
            if pixels.dtype != np.uint8:
                raise OrthancError(
                    ErrorCode.NOT_ACCEPTABLE,
                    f"{options.mode} is a 16-bit image, which JPEG cannot contain; "
                    "accept image/png",
                    http_status=404,
                )
            return encoding.encode_jpeg(pixels, options.quality), MEDIA_TYPES["jpeg"]
        if options.image_format == "pam":
            return encoding.encode_pam(pixels), MEDIA_TYPES["pam"]
        return encoding.encode_png(pixels), MEDIA_TYPES["png"]

    def _pixels(
        self,
        dataset: Dataset,
        info: ImageInfo,
        frame: np.ndarray,
        options: RenderOptions,
    ) -> np.ndarray:
        if options.mode == "preview":
            return rendering.stretch_to_uint8(frame, info)
        if options.mode == "rendered":
            window = None
            if options.window_center is not None or options.window_width is not None:
                base = rendering.first_window(dataset) or rendering.default_window(info)
                window = rendering.Window(
                    base.center
                    if options.window_center is None
                    else options.window_center,
                    base.width
                    if options.window_width is None
                    else options.window_width,
                )
            pixels = rendering.render_uint8(frame, info, dataset, window)
            return _resize(pixels, options, self.max_frame_bytes)
        if info.is_color:
            raise OrthancError(
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                f"{options.mode} is only defined for grayscale images, this one is "
                f"{info.photometric}; use preview or rendered",
            )
        pixels = rendering.clip_to(frame, CLIP_TYPES[options.mode])
        if pixels.dtype == np.int16:
            # The PNG contains the two's complement bits of the signed values.
            pixels = pixels.view(np.uint16)
        return pixels

    def raw_frame(
        self, public_id: str, index: int, compress: bool
    ) -> tuple[bytes, str]:
        """Return the stored bytes of one frame, gzip-compressed if asked."""
        _, dataset, info = self.image(public_id)
        try:
            frames.check_frame(info, dataset, index, max_frame_bytes=2**63)
            data = frames.raw_frame(dataset, info, index)
        except FrameIndexError as error:
            raise _frame_not_found(error, image_route=False) from None
        except ImageDecodeError as error:
            raise _unsupported(public_id, error) from None
        if compress:
            return gzip.compress(data, compresslevel=6), "application/gzip"
        return data, frames.raw_frame_media_type(info)

    def numpy(self, public_id: str, index: int | None, rescale: bool) -> bytes:
        """Return one frame, or all frames, as a ``.npy`` file.

        The shape is ``(rows, columns, samples)`` for a frame and
        ``(frames, rows, columns, samples)`` for the instance, as in Orthanc.
        Grayscale values are rescaled to float32 unless ``rescale`` is false.
        """
        if index is not None:
            dataset, info, frame = self.decoded_frame(
                public_id, index, image_route=False
            )
            return encoding.encode_npy(_numpy_frame(dataset, info, frame, rescale))
        _, dataset, info = self.image(public_id)
        total = info.number_of_frames * info.decoded_frame_bytes * (4 if rescale else 1)
        if total > 4 * self.max_frame_bytes:
            raise OrthancError(
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                f"The {info.number_of_frames} frames would take {total} bytes, "
                "more than "
                f"{4 * self.max_frame_bytes}; download them one by one from "
                f"/instances/{public_id}/frames/N/numpy",
            )
        stack = [
            _numpy_frame(dataset, info, self.decoded_frame(public_id, n)[2], rescale)
            for n in range(info.number_of_frames)
        ]
        return encoding.encode_npy(np.stack(stack))

    def matlab(self, public_id: str, index: int) -> str:
        """Format the stored values of a grayscale frame as a MATLAB matrix."""
        _, info, frame = self.decoded_frame(public_id, index, image_route=False)
        if frame.ndim != 2:
            raise OrthancError(
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                f"The MATLAB form is only available for grayscale images, this one is "
                f"{info.photometric}; use /numpy",
            )
        rows = (" ".join(str(value) for value in row) for row in frame.tolist())
        return "double([ " + " ; ".join(rows) + " ])"

    def pdf(self, public_id: str) -> bytes:
        """Return the PDF document of an Encapsulated PDF instance."""
        _, dataset = self.dataset(public_id)
        mime = str(dataset.get("MIMETypeOfEncapsulatedDocument") or "").strip()
        document = dataset.get("EncapsulatedDocument")
        if mime != PDF_MEDIA_TYPE or document is None:
            raise OrthancError(
                ErrorCode.UNKNOWN_RESOURCE,
                f"Instance {public_id} is not an Encapsulated PDF document",
            )
        data = bytes(document)
        # DICOM pads odd-length values with one NUL byte, which is no part of the PDF.
        if data.endswith(b"\x00"):
            data = data[:-1]
        return data


def _exit_with_parent(parent_pid: int) -> None:
    """Make a decoding worker exit when the server process is gone.

    A server killed without running its exit handlers would otherwise leave
    its idle workers behind.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _numpy_frame(
    dataset: Dataset, info: ImageInfo, frame: np.ndarray, rescale: bool
) -> np.ndarray:
    if frame.ndim == 2:
        frame = frame[:, :, np.newaxis]
        if rescale:
            return rendering.rescale(frame, dataset).astype(np.float32)
    return frame


def _resize(pixels: np.ndarray, options: RenderOptions, max_bytes: int) -> np.ndarray:
    """Fit the image in ``width`` x ``height``, keeping its aspect ratio."""
    if not options.width and not options.height:
        return pixels
    rows, columns = pixels.shape[:2]
    ratios = []
    if options.width:
        ratios.append(options.width / columns)
    if options.height:
        ratios.append(options.height / rows)
    ratio = min(ratios)
    width = max(1, round(columns * ratio))
    height = max(1, round(rows * ratio))
    if (width, height) == (columns, rows):
        return pixels
    channels = pixels.shape[2] if pixels.ndim == 3 else 1
    if width * height * channels > max_bytes:
        raise OrthancError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"A {width}x{height} image would exceed the limit of {max_bytes} bytes; "
            "ask for a smaller width or height",
        )
    return encoding.resize(pixels, width, height, options.smooth)


def _unsupported(public_id: str, error: ImageDecodeError) -> OrthancError:
    logger.info("Cannot decode instance %s: %s", public_id, error)
    return OrthancError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, str(error))


def _frame_not_found(error: FrameIndexError, image_route: bool) -> OrthancError:
    # Orthanc 1.10.1 responds 400 on the raw, numpy and matlab routes. Image
    # routes get 404 for uncompressed pixel data and 415 for compressed data.
    if not image_route:
        return OrthancError(ErrorCode.PARAMETER_OUT_OF_RANGE, str(error))
    if error.encapsulated:
        return OrthancError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, str(error))
    return OrthancError(ErrorCode.INEXISTENT_ITEM, str(error))


_services: weakref.WeakKeyDictionary[ServerContext, ImageService] = (
    weakref.WeakKeyDictionary()
)
_services_lock = threading.Lock()


def image_service(context: ServerContext) -> ImageService:
    """Return the image service of a server context, creating it once."""
    with _services_lock:
        service = _services.get(context)
        if service is None:
            service = _services[context] = ImageService(context)
        return service


@functools.cache
def unsupported_placeholder_png() -> bytes:
    """Encode the plain gray 64x64 PNG shown in place of an undecodable image."""
    return encoding.encode_png(np.full((64, 64), 128, dtype=np.uint8))
