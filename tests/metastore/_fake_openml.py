"""An emulated OpenML server that answers the real ``openml`` client from recorded XML.

``FakeOpenML`` answers the HTTP requests ``openml`` sends (``requests.Session.request``) from
the XML files in ``data/openml/``, the way OpenML's REST API v1 does: listings sliced by their
``/limit/<n>/offset/<k>`` filters and filtered by ``/flow/``, ``/task/``, ``/setup/`` and
``/user_id/``, and an ``oml:error`` body with HTTP 412 where the server has no result. The
client's own code parses every answer.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import requests

OPENML_DATA = Path(__file__).parent / "data" / "openml"
SERVER = "https://www.openml.org/api/v1/xml"
OML = "http://openml.org/openml"
ET.register_namespace("oml", OML)

# OpenML's error codes for "no result" of each listing, and for unknown ids.
_NO_RESULT = {"flow": 500, "evaluation": 542, "setup": 674, "user": 482}
_UNKNOWN_DATASET = 111
_NO_QUALITIES = 362


class FakeOpenML:
    """Serve ``openml``'s requests from recorded XML; ``urls`` records what was asked.

    Attributes:
        urls: every URL requested, in order.
        offline: when set, every request fails as on a machine without network.
    """

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.offline = False

    def handle(self, url: str) -> requests.Response:
        """Answer one request for ``url`` (or fail as a machine without network would)."""
        self.urls.append(url)
        if self.offline:
            raise requests.exceptions.ConnectionError(f"network disabled in tests: {url}")
        if not url.startswith(SERVER + "/"):
            raise AssertionError(f"request outside OpenML's API: {url}")
        status, body = self._answer(url[len(SERVER) + 1 :])
        response = requests.Response()
        response.status_code = status
        response._content = body.encode("utf-8")
        response.encoding = "utf-8"
        response.url = url
        response.headers["Content-Encoding"] = "gzip"  # what OpenML sends; keeps openml quiet
        return response

    def _answer(self, endpoint: str) -> tuple[int, str]:
        if match := re.fullmatch(r"data/(\d+)", endpoint):
            return _file_or_error(f"data_{match[1]}.xml", _UNKNOWN_DATASET, "Unknown dataset")
        if match := re.fullmatch(r"data/qualities/(\d+)", endpoint):
            return _file_or_error(
                f"data_qualities_{match[1]}.xml", _NO_QUALITIES, "No qualities found"
            )
        kind, filters = _listing(endpoint)
        if kind == "flow":
            items = _items("flow_list.xml")
        elif kind == "evaluation":
            items = [
                e
                for e in _items("evaluation_list.xml")
                if e.findtext(f"{{{OML}}}function") == filters["function"]
                and _allowed(e, "flow_id", filters.get("flow"))
                and _allowed(e, "task_id", filters.get("task"))
            ]
        elif kind == "setup":
            items = [
                s for s in _items("setup_list.xml") if _allowed(s, "setup_id", filters["setup"])
            ]
        elif kind == "user":
            items = [u for u in _items("user_list.xml") if _allowed(u, "id", filters["user_id"])]
        else:
            raise AssertionError(f"the fake OpenML has no answer for {endpoint!r}")
        offset = int(filters.get("offset", 0))
        limit = int(filters.get("limit", len(items)))
        page = items[offset : offset + limit]
        if not page:
            return _error(_NO_RESULT[kind], "No results")
        root = ET.Element(f"{{{OML}}}{kind}s")  # oml:flows, oml:evaluations, oml:setups ...
        root.extend(page)
        return 200, ET.tostring(root, encoding="unicode")


def _listing(endpoint: str) -> tuple[str, dict[str, str]]:
    kind, _, rest = endpoint.partition("/list/")
    parts = rest.split("/")
    return kind, dict(zip(parts[::2], parts[1::2], strict=True))


def _allowed(element: ET.Element, field: str, ids: str | None) -> bool:
    return ids is None or element.findtext(f"{{{OML}}}{field}") in ids.split(",")


def _items(name: str) -> list[ET.Element]:
    return list(ET.parse(OPENML_DATA / name).getroot())


def _file_or_error(name: str, code: int, message: str) -> tuple[int, str]:
    path = OPENML_DATA / name
    return (200, path.read_text(encoding="utf-8")) if path.is_file() else _error(code, message)


def _error(code: int, message: str) -> tuple[int, str]:
    return 412, (
        f'<oml:error xmlns:oml="{OML}">\n'
        f"  <oml:code>{code}</oml:code>\n"
        f"  <oml:message>{message}</oml:message>\n"
        "</oml:error>\n"
    )
