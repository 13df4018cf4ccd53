"""Serving stored files after a permission check: HTTP Range, and offload in production.

The caller has checked permission; then, by how media is stored:
- object storage (STUDIO_MEDIA_STORAGE=s3): a redirect to a presigned link to the object that
  lives 5 minutes (studio.storage.OBJECT_LINK_SECONDS), carrying the content type and name;
- local files behind a proxy (STUDIO_MEDIA_ACCEL_PREFIX, e.g. `/protected-media/`): an empty
  response with `X-Accel-Redirect`, and the proxy sends the bytes (docs/deploy.md);
- otherwise Django streams the file itself, honouring a single Range.
"""

from __future__ import annotations

import mimetypes
import re
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.utils.http import content_disposition_header

from studio.storage import OBJECT_LINK_SECONDS, uses_object_storage

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 64 * 1024


def _ranged_iterator(handle, start: int, length: int):
    try:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def stored_file_response(
    request: HttpRequest,
    name: str,
    *,
    content_type: str | None = None,
    download_name: str | None = None,
    as_attachment: bool = False,
    cache_seconds: int = 0,
) -> HttpResponseBase:
    """A response with the bytes of the stored file `name`, honouring a single Range."""
    content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if uses_object_storage():
        return _presigned_redirect(name, content_type, download_name, as_attachment)
    accel = getattr(settings, "STUDIO_MEDIA_ACCEL_PREFIX", "")
    if accel:
        response = HttpResponse(content_type=content_type)
        # The proxy decodes the URI it is given: quote the stored name.
        response["X-Accel-Redirect"] = accel.rstrip("/") + "/" + quote(name)
        _finish(response, download_name, as_attachment, cache_seconds)
        return response

    size = default_storage.size(name)
    header = request.headers.get("Range", "")
    match = _RANGE.match(header.strip()) if header else None
    if header and match:
        first, last = match.groups()
        if first == "" and last == "":
            match = None
        elif first == "":
            length = min(int(last), size)
            start, end = size - length, size - 1
        else:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        if match is not None:
            if size == 0 or start >= size or (first and last and int(last) < start) or end < start:
                response = HttpResponse(status=416)
                response["Content-Range"] = f"bytes */{size}"
                response["Accept-Ranges"] = "bytes"
                return response
            length = end - start + 1
            handle = default_storage.open(name, "rb")
            streaming = StreamingHttpResponse(
                _ranged_iterator(handle, start, length), status=206, content_type=content_type
            )
            streaming["Content-Range"] = f"bytes {start}-{end}/{size}"
            streaming["Content-Length"] = str(length)
            streaming["Accept-Ranges"] = "bytes"
            _finish(streaming, download_name, as_attachment, cache_seconds)
            return streaming
    whole = FileResponse(default_storage.open(name, "rb"), content_type=content_type)
    whole["Content-Length"] = str(size)
    whole["Accept-Ranges"] = "bytes"
    _finish(whole, download_name, as_attachment, cache_seconds)
    return whole


def _finish(
    response: HttpResponseBase, download_name: str | None, as_attachment: bool, cache_seconds: int
) -> None:
    if download_name or as_attachment:
        disposition = content_disposition_header(as_attachment, download_name or "")
        if disposition:
            response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    # Private media: a shared cache must never keep it.
    response["Cache-Control"] = (
        f"private, max-age={cache_seconds}" if cache_seconds else "private, no-store"
    )


def _presigned_redirect(
    name: str, content_type: str, download_name: str | None, as_attachment: bool
) -> HttpResponse:
    parameters = {"ResponseContentType": content_type}
    disposition = (
        content_disposition_header(as_attachment, download_name or "")
        if download_name or as_attachment
        else None
    )
    if disposition:
        parameters["ResponseContentDisposition"] = disposition
    # The S3 backend's url() takes these; the base Storage signature in the stubs does not.
    url = default_storage.url(name, parameters=parameters, expire=OBJECT_LINK_SECONDS)  # type: ignore[call-arg]
    response = HttpResponseRedirect(url)
    # The link dies in 5 minutes: nobody may keep the redirect longer than the link lives.
    response["Cache-Control"] = "private, no-store"
    return response
