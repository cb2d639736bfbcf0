"""DICOM content of stored instances: tags, raw values, metadata, attachments.

Reading an instance parses its file up to the Pixel Data (never the pixels
themselves) and keeps the result in a small LRU cache keyed by attachment
UUID, so the routes that show tags of the same instance parse it once.
Every function here blocks on disk or database I/O; route handlers call it
from worker threads.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import DeflatedExplicitVRLittleEndian

from orthanclite.context import ServerContext
from orthanclite.dicom.charset import DEFAULT_ENCODINGS
from orthanclite.dicom.dictionary import TagDictionary, default_dictionary
from orthanclite.dicom.json_formats import (
    NUMBER_FORMATS,
    STRING_VRS,
    JsonConverter,
    format_tags,
    raw_value,
    resolve_vr,
    tag_key,
)
from orthanclite.dicom.levels import Level
from orthanclite.dicom.modules import MODULE_TAGS
from orthanclite.errors import ErrorCode, OrthancError, unknown_resource
from orthanclite.index import properties, queries
from orthanclite.index.models import Resource

logger = logging.getLogger(__name__)

# Parsed headers kept in memory, most recently used first out last.
CACHE_CAPACITY = 64
# Values larger than this stay on disk until a route needs their bytes.
DEFER_SIZE = 16 * 1024
UNDEFINED_LENGTH = 0xFFFFFFFF
PIXEL_DATA_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
ITEM_TAG = 0xFFFEE000
SEQUENCE_DELIMITER_TAG = 0xFFFEE0DD
LONG_LENGTH_VRS = (b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN", b"SQ", b"UC", b"UR", b"UT")
DEFAULT_ENCODING_PROPERTY = "DefaultEncoding"

# Orthanc's metadata numbers: system ones below 1024, user ones from 1024.
SYSTEM_METADATA = {
    "IndexInSeries": 1,
    "ReceptionDate": 2,
    "RemoteAET": 3,
    "ModifiedFrom": 5,
    "AnonymizedFrom": 6,
    "LastUpdate": 7,
    "Origin": 8,
    "TransferSyntax": 9,
    "SopClassUid": 10,
    "RemoteIP": 11,
    "CalledAET": 12,
    "HttpUsername": 13,
    "PixelDataOffset": 14,
}
FIRST_USER_METADATA = 1024
LAST_USER_METADATA = 65535
ATTACHMENT_ROUTES = [
    "compress",
    "compressed-data",
    "compressed-md5",
    "compressed-size",
    "data",
    "info",
    "is-compressed",
    "md5",
    "size",
    "uncompress",
    "verify-md5",
    "uuid",
]


@dataclass(slots=True)
class StoredDataset:
    """An instance's dataset read up to its Pixel Data."""

    path: Path
    dataset: Dataset
    file_meta: Dataset
    little_endian: bool
    implicit: bool
    # Offset of the Pixel Data element in the file, and its tag.
    pixel_offset: int | None
    pixel_tag: int | None
    # Elements stored after the Pixel Data, such as Data Set Trailing Padding.
    trailing: Dataset = field(default_factory=Dataset)
    # Pixel Data already in memory (deflated files only).
    pixel_element: Any = None
    # VR of the Pixel Data in explicit VR files (OB or OW).
    pixel_vr: str = ""
    # Full JSON form of the dataset per default encoding, computed on demand.
    tags_json: dict[str, dict[str, Any]] = field(default_factory=dict)


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


def read_stored_dataset(path: Path, public_id: str) -> StoredDataset:
    """Parse a stored file up to its Pixel Data.

    Raises
    ------
    OrthancError
        ``BAD_FILE_FORMAT`` if the stored file cannot be parsed any more.
    """
    try:
        with open(path, "rb") as fp:
            deflated = _is_deflated(path)
            dataset = pydicom.dcmread(
                fp,
                stop_before_pixels=not deflated,
                force=True,
                defer_size=None if deflated else DEFER_SIZE,
            )
            if not any(tag >> 16 >= 0x0008 for tag in dataset._dict):
                raise ValueError("no data element could be read")
            implicit, little_endian = dataset.original_encoding
            little_endian = little_endian is not False
            convert_sequences(dataset)
            stored = StoredDataset(
                path=path,
                dataset=dataset,
                file_meta=getattr(dataset, "file_meta", None) or Dataset(),
                little_endian=little_endian,
                implicit=bool(implicit),
                pixel_offset=None,
                pixel_tag=None,
            )
            if deflated:
                _take_pixel_element(stored)
            else:
                _find_pixel_data(fp, stored)
    except OSError as error:
        logger.error("Cannot read the file of instance %s: %s", public_id, error)
        raise OrthancError(
            ErrorCode.INEXISTENT_FILE, f"Cannot read the file of instance {public_id}"
        ) from None
    except Exception as error:  # pydicom raises many types on corrupt input
        logger.warning("Cannot parse the file of instance %s: %s", public_id, error)
        raise OrthancError(
            ErrorCode.BAD_FILE_FORMAT,
            f"The stored file of instance {public_id} cannot be parsed as DICOM: {error}",
        ) from None
    return stored


def _take_pixel_element(stored: StoredDataset) -> None:
    """Move the in-memory Pixel Data of a deflated file out of the dataset."""
    for tag in PIXEL_DATA_TAGS:
        element = stored.dataset.get_item(tag)
        if element is not None:
            stored.pixel_tag = tag
            stored.pixel_element = element
            del stored.dataset._dict[tag]
            return


def convert_sequences(dataset: Dataset) -> None:
    """Parse the items of every sequence now, so the cached dataset never changes.

    pydicom parses a sequence when it is first accessed; doing it once here
    keeps later reads from several threads free of writes.
    """
    for tag in list(dataset._dict):
        element = dataset.get_item(tag)
        if element is None or not _is_sequence(element):
            continue
        value = dataset[tag].value
        if isinstance(value, DicomSequence):
            for item in value:
                convert_sequences(item)


def _is_sequence(element: Any) -> bool:
    if isinstance(element.value, DicomSequence) or element.VR == "SQ":
        return True
    if element.VR is not None:
        return False
    if getattr(element, "length", 0) == UNDEFINED_LENGTH:
        return True
    try:
        return bool(dictionary_VR(element.tag) == "SQ")
    except KeyError:
        return False


def _is_deflated(path: Path) -> bool:
    """Tell whether the file uses the deflated transfer syntax.

    pydicom inflates such files into memory, where the offsets of deferred
    values no longer match the file, so nothing is deferred for them.
    """
    try:
        meta = pydicom.filereader.read_file_meta_info(path)
    except Exception:  # no File Meta Information: not deflated
        return False
    return bool(meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian)


def _find_pixel_data(fp: Any, stored: StoredDataset) -> None:
    """Locate the Pixel Data that follows the dataset, and read what comes after it."""
    position = fp.tell()
    header = fp.read(6)
    if len(header) < 6:
        return
    group, element = struct.unpack(("<" if stored.little_endian else ">") + "HH", header[:4])
    tag = group << 16 | element
    if tag not in PIXEL_DATA_TAGS:
        return
    stored.pixel_offset, stored.pixel_tag = position, tag
    if not stored.implicit:
        stored.pixel_vr = header[4:6].decode("latin_1")
    fragments, end = _pixel_items(fp, stored)
    fp.seek(end)
    if fp.read(1):
        fp.seek(end)
        stored.trailing = pydicom.filereader.read_dataset(
            fp, stored.implicit, stored.little_endian, defer_size=DEFER_SIZE
        )


def _element_header(fp: Any, stored: StoredDataset) -> tuple[int, int]:
    """Read the element header at the file position; return its length and size."""
    endian = "<" if stored.little_endian else ">"
    header = fp.read(12)
    if stored.implicit:
        return struct.unpack(endian + "I", header[4:8])[0], 8
    if header[4:6] in LONG_LENGTH_VRS:
        return struct.unpack(endian + "I", header[8:12])[0], 12
    return struct.unpack(endian + "H", header[6:8])[0], 8


def _pixel_items(fp: Any, stored: StoredDataset) -> tuple[list[tuple[int, int]], int]:
    """Return (offset, length) of each Pixel Data item and the offset after it.

    Native Pixel Data is one item. Encapsulated Pixel Data lists its items,
    the Basic Offset Table first, as Orthanc numbers them.
    """
    assert stored.pixel_offset is not None
    endian = "<" if stored.little_endian else ">"
    fp.seek(stored.pixel_offset)
    length, size = _element_header(fp, stored)
    start = stored.pixel_offset + size
    if length != UNDEFINED_LENGTH:
        return [(start, length)], start + length
    items: list[tuple[int, int]] = []
    offset = start
    while True:
        fp.seek(offset)
        item = fp.read(8)
        if len(item) < 8:
            return items, offset
        item_group, item_element, item_length = struct.unpack(endian + "HHI", item)
        tag = item_group << 16 | item_element
        if tag == SEQUENCE_DELIMITER_TAG:
            return items, offset + 8
        if tag != ITEM_TAG or item_length == UNDEFINED_LENGTH:
            return items, offset
        items.append((offset + 8, item_length))
        offset += 8 + item_length


def read_pixel_items(stored: StoredDataset) -> list[bytes] | list[tuple[int, int]]:
    """Return the Pixel Data items: byte ranges in the file, or bytes in memory."""
    if stored.pixel_element is not None:
        value = raw_value(stored.pixel_element)
        if stored.pixel_element.VR in ("OB", "UN") and value[:4] == b"\xfe\xff\x00\xe0":
            return list(_memory_items(value))
        return [value]
    if stored.pixel_offset is None:
        return []
    with open(stored.path, "rb") as fp:
        return _pixel_items(fp, stored)[0]


def _memory_items(value: bytes) -> list[bytes]:
    items, offset = [], 0
    while offset + 8 <= len(value):
        group, element, length = struct.unpack("<HHI", value[offset : offset + 8])
        if (group << 16 | element) != ITEM_TAG:
            break
        items.append(value[offset + 8 : offset + 8 + length])
        offset += 8 + length
    return items


def read_bytes(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as fp:
        fp.seek(offset)
        return fp.read(length)


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
            str(context.settings.dicom_dictionary) if context.settings.dicom_dictionary else None
        )

    # -- datasets ----------------------------------------------------------

    def stored_dataset(self, public_id: str) -> StoredDataset:
        path, uuid = self.context.instance_file(public_id)
        entry = self.cache.get(uuid)
        if entry is None:
            entry = read_stored_dataset(path, public_id)
            self.cache.put(uuid, entry)
        return entry

    def _converter(self, stored: StoredDataset) -> JsonConverter:
        return JsonConverter(self.dictionary, self.context.default_encoding, stored.little_endian)

    def full_tags(self, public_id: str) -> dict[str, Any]:
        """Return the full ``/tags`` form of an instance (cached per encoding)."""
        stored = self.stored_dataset(public_id)
        encoding = self.context.default_encoding
        full = stored.tags_json.get(encoding)
        if full is None:
            full = self._converter(stored).convert(stored.dataset)
            if stored.pixel_tag is not None:
                full[tag_key(stored.pixel_tag)] = {
                    "Name": self.dictionary.standard_entry(stored.pixel_tag).name  # type: ignore[union-attr]
                    if self.dictionary.standard_entry(stored.pixel_tag)
                    else "PixelData",
                    "Type": "Null",
                    "Value": None,
                }
            stored.tags_json[encoding] = full
        return full

    def instance_tags(self, public_id: str, simplified: bool, short: bool) -> dict[str, Any]:
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
            return [r.public_id for r in queries.descendants(session, resource, Level.INSTANCE)]

    def instances_tags(self, level: Level, public_id: str, simplified: bool,
                       short: bool) -> dict[str, Any]:
        """Return the tags of every instance below a resource, by instance ID."""
        return {
            instance: self.instance_tags(instance, simplified, short)
            for instance in self.child_instances(level, public_id)
        }

    def shared_tags(self, level: Level, public_id: str, simplified: bool,
                    short: bool) -> dict[str, Any]:
        """Return the string elements whose value is the same in every instance."""
        shared: dict[str, Any] | None = None
        for instance in self.child_instances(level, public_id):
            full = self.full_tags(instance)
            if shared is None:
                shared = {k: v for k, v in full.items() if v["Type"] == "String"}
            else:
                shared = {k: v for k, v in shared.items() if full.get(k) == v}
        return format_tags(shared or {}, simplified, short)

    def module(self, level: Level, public_id: str, module_level: Level, simplified: bool,
               short: bool) -> dict[str, Any]:
        """Return the elements of one DICOM module, read from the first instance."""
        instances = self.child_instances(level, public_id)
        if not instances:
            return {}
        full = self.full_tags(instances[0])
        wanted = {tag_key(tag) for tag in MODULE_TAGS[module_level]}
        return format_tags({k: v for k, v in full.items() if k in wanted}, simplified, short)

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
            if position == 0 and tag == stored.pixel_tag:
                return self._pixel_content(stored, path[1:])
            element = dataset.get_item(tag)
            if element is None and position == 0:
                element = stored.trailing.get_item(tag)
            if element is None:
                raise OrthancError(ErrorCode.UNKNOWN_RESOURCE, http_status=404)
            value = element.value
            if isinstance(value, DicomSequence):
                if position + 1 == len(path):
                    return [str(index) for index in range(len(value))]
                index = _parse_index(path[position + 1])
                if index is None or index >= len(value):
                    raise OrthancError(ErrorCode.UNKNOWN_RESOURCE, http_status=404)
                dataset = value[index]
                if position + 2 == len(path):
                    return [tag_key(t, "-") for t in sorted(dataset._dict)]
                continue
            if position + 1 != len(path):
                raise OrthancError(ErrorCode.UNKNOWN_RESOURCE, http_status=404)
            return self._element_bytes(stored, element, top_level=position == 0)
        raise OrthancError(ErrorCode.UNKNOWN_RESOURCE, http_status=404)

    def _top_level_tags(self, stored: StoredDataset) -> list[str]:
        tags = sorted(stored.dataset._dict)
        if stored.pixel_tag is not None:
            tags.append(stored.pixel_tag)
        tags += sorted(stored.trailing._dict)
        return [tag_key(tag, "-") for tag in tags]

    def _element_bytes(self, stored: StoredDataset, element: Any, top_level: bool) -> bytes:
        if isinstance(element, RawDataElement) and element.value is None and element.length:
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
        # order Orthanc holds them in memory.
        return _swap_to_little_endian(raw, vr)

    def _pixel_content(self, stored: StoredDataset, rest: list[str]) -> list[str] | bytes:
        items = read_pixel_items(stored)
        if not rest:
            return [str(index) for index in range(len(items))]
        index = _parse_index(rest[0])
        if len(rest) > 1 or index is None or index >= len(items):
            raise OrthancError(ErrorCode.UNKNOWN_RESOURCE, http_status=404)
        item = items[index]
        raw = item if isinstance(item, bytes) else read_bytes(stored.path, *item)
        if stored.little_endian or len(items) > 1 or stored.pixel_vr != "OW":
            return raw
        # DCMTK holds big endian OW data as 16-bit words in memory.
        return _swap_to_little_endian(raw, "OW")


def _swap_to_little_endian(raw: bytes, vr: str) -> bytes:
    fmt = {"OW": "H", "OL": "L", "OF": "f", "OD": "d", "OV": "Q"}.get(vr) or NUMBER_FORMATS.get(vr)
    if fmt is None:
        return raw
    if fmt == "HH":
        fmt = "H"
    size = struct.calcsize(">" + fmt)
    count = len(raw) // size
    values = struct.unpack(f">{count}{fmt}", raw[: count * size])
    return struct.pack(f"<{count}{fmt}", *values) + raw[count * size :]


def parse_tag(text: str) -> int:
    """Parse ``gggg-eeee``, ``gggg,eeee``, ``ggggeeee`` or a keyword.

    Raises OrthancError ``UNKNOWN_DICOM_TAG`` (HTTP 500, as Orthanc answers).
    """
    compact = text.replace("-", "").replace(",", "") if len(text) == 9 and text[4] in "-," else text
    if len(compact) == 8:
        try:
            return int(compact, 16)
        except ValueError:
            pass
    tag = tag_for_keyword(text)
    if tag is not None:
        return int(tag)
    raise OrthancError(
        ErrorCode.UNKNOWN_DICOM_TAG,
        f"Unknown DICOM tag {text!r}; write it as gggg-eeee in hexadecimal or as a keyword",
        http_status=500,
    )


def _parse_index(text: str) -> int | None:
    return int(text) if text.isdigit() else None


_services: weakref.WeakKeyDictionary[ServerContext, InstanceContent] = weakref.WeakKeyDictionary()
_services_lock = threading.Lock()


def instance_content(context: ServerContext) -> InstanceContent:
    """Return the content reader of a server context, created on first use."""
    with _services_lock:
        service = _services.get(context)
        if service is None:
            service = InstanceContent(context)
            _services[context] = service
        return service


# -- metadata -------------------------------------------------------------


def metadata_number(name: str, user_metadata: dict[str, int]) -> int | None:
    """Return Orthanc's number of a metadata name, or None if unknown."""
    if name in SYSTEM_METADATA:
        return SYSTEM_METADATA[name]
    if name in user_metadata:
        return user_metadata[name]
    if name.isdigit():
        return int(name)
    return None


def _resource(context: ServerContext, session: Any, level: Level, public_id: str) -> Resource:
    resource = queries.find_resource(session, level, public_id)
    if resource is None:
        raise unknown_resource(level.type_name, public_id)
    return resource


def resource_metadata(context: ServerContext, level: Level, public_id: str) -> dict[str, str]:
    """Return the metadata of a resource, ordered by Orthanc's metadata number."""
    user = context.settings.user_metadata
    with context.read_session() as session:
        resource = _resource(context, session, level, public_id)
        values = properties.list_metadata(session, resource.id)
        if level == Level.SERIES:
            remote = properties.newest_child_metadata(session, resource.id, "RemoteAET")
            values.setdefault("RemoteAET", remote or "")
        if level != Level.INSTANCE:
            values.setdefault("LastUpdate", resource.last_update)
    return dict(
        sorted(values.items(), key=lambda item: metadata_number(item[0], user) or LAST_USER_METADATA)
    )


def get_metadata(context: ServerContext, level: Level, public_id: str, name: str) -> str:
    values = resource_metadata(context, level, public_id)
    stored_name = _user_metadata_name(name, context.settings.user_metadata) or name
    if stored_name not in values:
        raise OrthancError(
            ErrorCode.INEXISTENT_ITEM, f"The {level.type_name.lower()} has no metadata {name!r}"
        )
    return values[stored_name]


def _user_metadata_name(name: str, user_metadata: dict[str, int]) -> str | None:
    """Return the name a user metadata is stored under, or None if not one."""
    number = metadata_number(name, user_metadata)
    if number is None:
        raise OrthancError(
            ErrorCode.INEXISTENT_ITEM,
            f"Unknown metadata {name!r}; declare user metadata in the UserMetadata setting",
        )
    if not FIRST_USER_METADATA <= number <= LAST_USER_METADATA:
        return None
    for user_name, user_number in user_metadata.items():
        if user_number == number:
            return user_name
    return str(number)


def _writable_metadata_name(name: str, user_metadata: dict[str, int]) -> str:
    stored_name = _user_metadata_name(name, user_metadata)
    if stored_name is None:
        raise OrthancError(
            ErrorCode.BAD_REQUEST,
            f"Metadata {name!r} is maintained by the server and cannot be changed",
            http_status=403,
        )
    return stored_name


def set_metadata(context: ServerContext, level: Level, public_id: str, name: str, value: str) -> None:
    """Create or replace a user metadata of a resource."""
    stored_name = _writable_metadata_name(name, context.settings.user_metadata)

    def write(session: Any) -> None:
        resource = _resource(context, session, level, public_id)
        properties.set_metadata(session, resource.id, stored_name, value)

    context._run_write(write)
    logger.info("Metadata %s of %s %s set", stored_name, level.type_name.lower(), public_id)


def delete_metadata(context: ServerContext, level: Level, public_id: str, name: str) -> None:
    """Delete a user metadata of a resource."""
    stored_name = _writable_metadata_name(name, context.settings.user_metadata)

    def remove(session: Any) -> bool:
        resource = _resource(context, session, level, public_id)
        return properties.delete_metadata(session, resource.id, stored_name)

    if not context._run_write(remove):
        raise OrthancError(
            ErrorCode.UNKNOWN_RESOURCE,
            f"The {level.type_name.lower()} has no metadata {name!r}",
        )


# -- attachments ----------------------------------------------------------


def list_attachments(context: ServerContext, level: Level, public_id: str) -> list[str]:
    with context.read_session() as session:
        _resource(context, session, level, public_id)
    return ["dicom"] if level == Level.INSTANCE else []


def attachment_info(context: ServerContext, level: Level, public_id: str, name: str) -> dict[str, Any]:
    """Return Orthanc's description of an attachment (only ``dicom`` exists)."""
    if level != Level.INSTANCE or name not in ("dicom", "1"):
        raise OrthancError(
            ErrorCode.INEXISTENT_ITEM, f"The {level.type_name.lower()} has no attachment {name!r}"
        )
    with context.read_session() as session:
        resource = _resource(context, session, level, public_id)
        attachment = queries.dicom_attachments(session, [resource.id]).get(resource.id)
    if attachment is None:
        raise OrthancError(ErrorCode.INEXISTENT_FILE, f"Instance {public_id} has no file")
    return {
        "CompressedMD5": attachment.md5,
        "CompressedSize": attachment.size,
        "ContentType": 1,
        "UncompressedMD5": attachment.md5,
        "UncompressedSize": attachment.size,
        "Uuid": attachment.uuid,
    }


def verify_attachment_md5(context: ServerContext, level: Level, public_id: str, name: str) -> None:
    """Hash the stored file again and compare it with the MD5 taken at store time."""
    info = attachment_info(context, level, public_id, name)
    path, _uuid = context.instance_file(public_id)
    digest = hashlib.md5()
    with open(path, "rb") as fp:
        while chunk := fp.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != info["UncompressedMD5"]:
        logger.error("The file of instance %s does not match its MD5", public_id)
        raise OrthancError(
            ErrorCode.CORRUPTED_FILE,
            f"The file of instance {public_id} has changed on disk since it was stored",
        )


# -- default encoding -----------------------------------------------------


def set_default_encoding(context: ServerContext, name: str) -> str:
    """Set and persist the encoding of files without Specific Character Set."""
    name = name.strip()
    matches = [known for known in DEFAULT_ENCODINGS if known.lower() == name.lower()]
    if not matches:
        raise OrthancError(
            ErrorCode.PARAMETER_OUT_OF_RANGE,
            f"Unknown encoding {name!r}; use one of {', '.join(DEFAULT_ENCODINGS)}",
        )
    encoding = matches[0]
    context._run_write(
        lambda session: properties.set_property(session, DEFAULT_ENCODING_PROPERTY, encoding)
    )
    context.default_encoding = encoding
    logger.info("Default encoding set to %s", encoding)
    return encoding

