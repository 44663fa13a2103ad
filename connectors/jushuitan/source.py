"""JushuitanSource: the open API as a :class:`connectors.base.Source`.

Adding a stream = one :class:`Endpoint` row in :data:`ENDPOINTS` (path, list key, page
size maximum, name of the ts parameter if the API has one). Each call carries the urgency
the scheduler planned for it (:func:`connectors.urgency.next_call_urgency`) to the
shared :class:`QuotaBudget`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.base import PageQuery, SourcePage
from connectors.errors import FatalConfigurationError
from connectors.jushuitan.client import JushuitanClient
from connectors.models import format_erp_time
from connectors.urgency import Urgency, next_call_priority


@dataclass(frozen=True)
class Endpoint:
    path: str
    list_key: str
    max_page_size: int
    ts_parameter: str | None = None
    urgency: Urgency = Urgency.DIMENSIONS  # outside a planned poll (discovery, probes)


DOCUMENTS = Urgency.DOCUMENTS
ENDPOINTS: dict[str, Endpoint] = {
    "inventory": Endpoint("/open/inventory/query", "inventorys", 100, "ts", Urgency.INVENTORY),
    "sku": Endpoint("/open/sku/query", "datas", 50),
    "shop": Endpoint("/open/shops/query", "datas", 100),
    "shops": Endpoint("/open/shops/query", "datas", 100),  # older name of "shop"
    # Warehouse (分仓) list; path inferred from public client code, not in the fact sheet.
    "warehouse": Endpoint("/open/wms/partner/query", "datas", 100),
    "outbound": Endpoint("/open/orders/out/simple/query", "datas", 50, "start_ts", DOCUMENTS),
    "refund": Endpoint("/open/refund/single/query", "datas", 50, "start_ts", DOCUMENTS),
    "aftersale_received": Endpoint(
        "/open/aftersale/received/query", "datas", 50, "start_ts", DOCUMENTS
    ),
}


def _has_next(data: dict[str, Any], rows: list[Any], query: PageQuery) -> bool:
    if "has_next" in data:
        return bool(data["has_next"])
    if data.get("page_count") is not None:
        return query.page_index < int(data["page_count"])
    return len(rows) >= query.page_size


class JushuitanSource:
    name = "jushuitan"

    def __init__(self, client: JushuitanClient, endpoints: dict[str, Endpoint] | None = None):
        self.client = client
        self.endpoints = endpoints if endpoints is not None else ENDPOINTS

    def supports(self, stream: str) -> bool:
        return stream in self.endpoints

    def endpoint(self, stream: str) -> Endpoint:
        try:
            return self.endpoints[stream]
        except KeyError:
            raise FatalConfigurationError(f"stream {stream!r} has no Jushuitan endpoint") from None

    def max_page_size(self, stream: str) -> int:
        return self.endpoint(stream).max_page_size

    def build_biz(self, stream: str, query: PageQuery) -> dict[str, Any]:
        endpoint = self.endpoint(stream)
        biz: dict[str, Any] = {
            "page_index": query.page_index,
            "page_size": min(query.page_size, endpoint.max_page_size),
        }
        if query.start_ts is not None:
            if endpoint.ts_parameter is None:
                raise FatalConfigurationError(f"stream {stream!r} has no ts cursor")
            biz[endpoint.ts_parameter] = query.start_ts
            biz["is_get_total"] = query.with_total
        if (query.modified_begin is None) != (query.modified_end is None):
            raise FatalConfigurationError("modified_begin and modified_end go together")
        if query.modified_begin is not None and query.modified_end is not None:
            biz["modified_begin"] = format_erp_time(query.modified_begin)
            biz["modified_end"] = format_erp_time(query.modified_end)
        biz.update(query.filters)
        return biz

    def query(self, stream: str, query: PageQuery) -> SourcePage:
        endpoint = self.endpoint(stream)
        data = self.client.call(
            endpoint.path,
            self.build_biz(stream, query),
            priority=next_call_priority(endpoint.urgency),
            label=stream,
        )
        rows = data.get(endpoint.list_key) or []
        if not isinstance(rows, list):
            rows = []
        count = data.get("data_count")
        return SourcePage(
            rows=rows,
            has_next=_has_next(data, rows, query),
            page_index=query.page_index,
            data_count=int(count) if count is not None else None,
        )
