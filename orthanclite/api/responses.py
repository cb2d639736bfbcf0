"""JSON responses formatted like Orthanc's: sorted keys, indented."""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi.responses import Response

JSON_MEDIA_TYPE = "application/json; charset=utf-8"


class OrthancJSONResponse(Response):
    """JSON with sorted keys and indentation, so curl output is readable.

    Orthanc indents with three spaces; two are used here (orjson's only
    indentation), which parses to the same JSON.
    """

    media_type = JSON_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(
                content,
                option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
            )
        except TypeError:
            # orjson refuses nesting deeper than 254 containers, which the
            # tags of deeply nested sequences reach; the standard library
            # module has no such limit.
            return json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False).encode()


def json_response(content: Any, status_code: int = 200) -> OrthancJSONResponse:
    return OrthancJSONResponse(content, status_code=status_code)
