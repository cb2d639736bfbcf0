"""DICOM content of stored instances: tags in Orthanc's forms and raw values.

Reading an instance parses its file up to the Pixel Data, never the pixels
themselves. The result stays in a small LRU cache keyed by attachment UUID,
so the routes that show tags of the same instance parse it once.
Every function here blocks on disk I/O; route handlers call it from worker
threads.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.sequence import Sequence as DicomSequence

from orthanclite.context import ServerContext
from orthanclite.dicom.dictionary import TagDictionary, default_dictionary, tag_name
from orthanclite.dicom.json_formats import (
    STRING_VRS,
    JsonConverter,
    format_tags,
    raw_value,
    resolve_vr,
    tag_key,
)
from orthanclite.dicom.levels import Level
from orthanclite.dicom.modules import MODULE_TAGS
from orthanclite.dicom.stored import (
    StoredDataset,
    StoredFileError,
    read_bytes,
    read_pixel_items,
    read_stored_dataset,
    swap_to_little_endian,
)
from orthanclite.errors import ErrorCode, OrthancError, unknown_resource
from orthanclite.index import queries

logger = logging.getLogger(__name__)

# Parsed headers kept in memory; the least recently used goes first.
CACHE_CAPACITY = 64


class DatasetCache:
    """Thread-safe LRU cache of parsed datasets keyed by attachment UUID."""

    def __init__(self, capacity: int = CACHE_CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, StoredDataset] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, uuid: str) -> StoredDataset | None:
        with self._lock:
            entry = self._entries.get(uuid)
            if entry is not None:
                self._entries.move_to_end(uuid)
            return entry

    def put(self, uuid: str, entry: StoredDataset) -> None:
        with self._lock:
            self._entries[uuid] = entry
            self._entries.move_to_end(uuid)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)


def _read_or_raise(path: Any, public_id: str) -> StoredDataset:
    try:
        return read_stored_dataset(path)
    except OSError as error:
        logger.error("Cannot read the file of instance %s: %s", public_id, error)
        raise OrthancError(
            ErrorCode.INEXISTENT_FILE, f"Cannot read the file of instance {public_id}"
        ) from None
    except StoredFileError as error:
        logger.warning("Cannot parse the file of instance %s: %s", public_id, error)
        raise OrthancError(
            ErrorCode.BAD_FILE_FORMAT,
            f"The stored file of instance {public_id} cannot be parsed as DICOM: "
            f"{error}",
        ) from None


class RepeatedWarningFilter(logging.Filter):
    """Let each distinct warning through once.

    pydicom logs a warning on every decode of a file with an unknown
    character set or a wrong VR; one line per distinct message is enough.
    """

    def __init__(self, limit: int = 1000) -> None:
        super().__init__()
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        message = record.getMessage()
        with self._lock:
            if message in self._seen:
                return False
            if len(self._seen) < self.limit:
                self._seen.add(message)
        return True


_PYDICOM_FILTER = RepeatedWarningFilter()


class InstanceContent:
    """Reads the DICOM content of the instances of one server."""

    def __init__(self, context: ServerContext) -> None:
        pydicom_logger = logging.getLogger("pydicom")
        if _PYDICOM_FILTER not in pydicom_logger.filters:
            pydicom_logger.addFilter(_PYDICOM_FILTER)
        self.context = context
        self.cache = DatasetCache()
        self.dictionary: TagDictionary = default_dictionary(
            str(context.settings.dicom_dictionary)
            if context.settings.dicom_dictionary
            else None
        )

    # -- datasets ----------------------------------------------------------

    def stored_dataset(self, public_id: str) -> StoredDataset:
        path, uuid = self.context.instance_file(public_id)
        entry = self.cache.get(uuid)
        if entry is None:
            entry = _read_or_raise(path, public_id)
            self.cache.put(uuid, entry)
        return entry

    def _converter(self, stored: StoredDataset) -> JsonConverter:
        return JsonConverter(
            self.dictionary, self.context.default_encoding, stored.little_endian
        )

    def full_tags(self, public_id: str) -> dict[str, Any]:
        """Return the full ``/tags`` form of an instance (cached per encoding)."""
        stored = self.stored_dataset(public_id)
        encoding = self.context.default_encoding
        full = stored.tags_json.get(encoding)
        if full is None:
            full = self._converter(stored).convert(stored.dataset)
            if stored.pixel_tag is not None:
                full[tag_key(stored.pixel_tag)] = {
                    "Name": tag_name(self.dictionary, stored.pixel_tag, None),
                    "Type": "Null",
                    "Value": None,
                }
            stored.tags_json[encoding] = full
        return full

    def instance_tags(
        self, public_id: str, simplified: bool, short: bool
    ) -> dict[str, Any]:
        return format_tags(self.full_tags(public_id), simplified, short)

    def header(self, public_id: str, simplified: bool, short: bool) -> dict[str, Any]:
        """Return the File Meta Information (group 0002) in one of the three forms."""
        stored = self.stored_dataset(public_id)
        converter = JsonConverter(self.dictionary, self.context.default_encoding, True)
        full = converter.convert(stored.file_meta)
        # Orthanc leaves the binary elements (such as the File Meta
        # Information Version) out of the header.
        full = {key: entry for key, entry in full.items() if entry["Type"] != "Null"}
        return format_tags(full, simplified, short)

    # -- resources below a patient, study or series -----------------------

    def child_instances(self, level: Level, public_id: str) -> list[str]:
        with self.context.read_session() as session:
            resource = queries.find_resource(session, level, public_id)
            if resource is None:
                raise unknown_resource(level.type_name, public_id)
            if level == Level.INSTANCE:
                return [public_id]
            return [
                r.public_id
                for r in queries.descendants(session, resource, Level.INSTANCE)
            ]

    def instances_tags(
        self, level: Level, public_id: str, simplified: bool, short: bool
    ) -> dict[str, Any]:
        """Return the tags of every instance below a resource, by instance ID."""
        return {
            instance: self.instance_tags(instance, simplified, short)
            for instance in self.child_instances(level, public_id)
        }

    def shared_tags(
        self, level: Level, public_id: str, simplified: bool, short: bool
    ) -> dict[str, Any]:
        """Return the string elements whose value is the same in every instance."""
        shared: dict[str, Any] | None = None
        for instance in self.child_instances(level, public_id):
            full = self.full_tags(instance)
            if shared is None:
                shared = {k: v for k, v in full.items() if v["Type"] == "String"}
            else:
                shared = {k: v for k, v in shared.items() if full.get(k) == v}
        return format_tags(shared or {}, simplified, short)

    def module(
        self,
        level: Level,
        public_id: str,
        module_level: Level,
        simplified: bool,
        short: bool,
    ) -> dict[str, Any]:
        """Return the elements of one DICOM module, read from the first instance."""
        instances = self.child_instances(level, public_id)
        if not instances:
            return {}
        full = self.full_tags(instances[0])
        module_keys = {tag_key(tag) for tag in MODULE_TAGS[module_level]}
        return format_tags(
            {k: v for k, v in full.items() if k in module_keys}, simplified, short
        )

    # -- raw content -------------------------------------------------------

    def content(self, public_id: str, path: list[str]) -> list[str] | bytes:
        """Walk ``/content/...``: a list of tags, of item indexes, or raw bytes.

        ``path`` alternates tags (``gggg-eeee``, ``gggg,eeee`` or a keyword)
        and item indexes.
        """
        stored = self.stored_dataset(public_id)
        if not path:
            return self._top_level_tags(stored)
        dataset = stored.dataset
        for position in range(0, len(path), 2):
            tag = parse_tag(path[position])
            if tag >> 16 == 0xFFFE:
                # Item and sequence delimiters are not elements.
                raise _no_content(public_id, path[: position + 1])
            if position == 0 and tag == stored.pixel_tag:
                return self._pixel_content(stored, public_id, path[1:])
            element = dataset.get_item(tag)
            if element is None and position == 0:
                element = stored.trailing.get_item(tag)
            if element is None:
                raise _no_content(public_id, path[: position + 1])
            value = element.value
            if isinstance(value, DicomSequence):
                if position + 1 == len(path):
                    return [str(index) for index in range(len(value))]
                index = _parse_index(path[position + 1])
                if index is None or index >= len(value):
                    raise _no_content(public_id, path[: position + 2])
                dataset = value[index]
                if position + 2 == len(path):
                    return [tag_key(t, "-") for t in sorted(dataset._dict)]
                continue
            if position + 1 != len(path):
                raise _no_content(public_id, path)
            try:
                return self._element_bytes(stored, element)
            except (ValueError, TypeError, KeyError, NotImplementedError) as error:
                logger.warning("Cannot read an element of instance %s: %s", public_id, error)
                raise OrthancError(
                    ErrorCode.BAD_FILE_FORMAT,
                    f"The element at /content/{'/'.join(path)} cannot be read: {error}",
                ) from None
        raise _no_content(public_id, path)

    def _top_level_tags(self, stored: StoredDataset) -> list[str]:
        tags = sorted(stored.dataset._dict)
        if stored.pixel_tag is not None:
            tags.append(stored.pixel_tag)
        tags += sorted(stored.trailing._dict)
        # Item and sequence delimiters (group FFFE) found after a damaged
        # Pixel Data are not elements.
        return [tag_key(tag, "-") for tag in tags if tag >> 16 != 0xFFFE]

    def _element_bytes(self, stored: StoredDataset, element: Any) -> bytes:
        if (
            isinstance(element, RawDataElement)
            and element.value is None
            and element.length
        ):
            raw = read_bytes(stored.path, element.value_tell, element.length)
        else:
            raw = raw_value(element, stored.little_endian)
        if element.VR == "UN":
            return raw
        vr = resolve_vr(element, None, self.dictionary)
        if vr in STRING_VRS:
            if raw.endswith(b"  "):
                # DCMTK (thus Orthanc) drops the trailing spaces of a value
                # padded with more than one space.
                return raw.rstrip(b" ")
            if len(raw) % 2 == 1 and not isinstance(element, RawDataElement):
                # A value pydicom already decoded lost its padding byte.
                return raw + (b"\x00" if vr == "UI" else b" ")
            return raw
        if stored.little_endian:
            return raw
        # Big endian files: numbers are returned in little endian, the byte
        # order Orthanc keeps them in memory.
        return swap_to_little_endian(raw, vr)

    def _pixel_content(
        self, stored: StoredDataset, public_id: str, rest: list[str]
    ) -> list[str] | bytes:
        items = read_pixel_items(stored)
        if not rest:
            return [str(index) for index in range(len(items))]
        index = _parse_index(rest[0])
        if len(rest) > 1 or index is None or index >= len(items):
            raise _no_content(public_id, [tag_key(stored.pixel_tag or 0, "-")] + rest)
        item = items[index]
        raw = item if isinstance(item, bytes) else read_bytes(stored.path, *item)
        if stored.little_endian or len(items) > 1 or stored.pixel_vr != "OW":
            return raw
        # DCMTK keeps big endian OW data in memory as 16-bit words.
        return swap_to_little_endian(raw, "OW")


def _no_content(public_id: str, path: list[str]) -> OrthancError:
    return OrthancError(
        ErrorCode.UNKNOWN_RESOURCE,
        f"Instance {public_id} has no element or item at /content/{'/'.join(path)}",
    )


def parse_tag(text: str) -> int:
    """Parse ``gggg-eeee``, ``gggg,eeee``, ``ggggeeee`` or a keyword.

    Raises OrthancError ``UNKNOWN_DICOM_TAG`` (HTTP 400, where Orthanc returns 500).
    """
    compact = (
        text.replace("-", "").replace(",", "")
        if len(text) == 9 and text[4] in "-,"
        else text
    )
    if len(compact) == 8 and all(c in _HEX_DIGITS for c in compact):
        return int(compact, 16)
    tag = tag_for_keyword(text)
    if tag is not None:
        return int(tag)
    raise OrthancError(
        ErrorCode.UNKNOWN_DICOM_TAG,
        f"Unknown DICOM tag {text!r}; write it as gggg-eeee in hexadecimal "
        "or as a keyword",
    )


def _parse_index(text: str) -> int | None:
    # str.isdigit() also accepts digits such as "²" that int() rejects.
    return int(text) if text.isascii() and text.isdigit() else None


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


_services: weakref.WeakKeyDictionary[ServerContext, InstanceContent] = (
    weakref.WeakKeyDictionary()
)
_services_lock = threading.Lock()


def instance_content(context: ServerContext) -> InstanceContent:
    """Return the content reader of a server context, created on first use."""
    with _services_lock:
        service = _services.get(context)
        if service is None:
            service = InstanceContent(context)
            _services[context] = service
        return service
