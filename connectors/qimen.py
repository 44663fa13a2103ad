"""Qimen gateway (奇门) source: the planned second adapter, for Taobao/Tmall money fields.

Why: the standard Jushuitan APIs leave out money fields of Taobao/Tmall orders and
after-sales (and Pinduoduo orders); Alibaba's rules route them through the Qimen gateway
(e.g. ``jushuitan.refund.list.query``, ``jushuitan.orders.out.simple.query``-style
methods with Qimen signing and a ``target_app_key``).

How it plugs in (nothing else changes):

1. Implement :class:`connectors.base.Source` here: ``name = "qimen"``; ``supports``
   lists the streams Qimen serves (``refund``, ``outbound``); ``max_page_size`` per
   method; ``query(stream, PageQuery)`` maps ``start_ts`` / ``modified_begin/end`` /
   ``page_index`` to the Qimen method's parameters, signs the Qimen envelope, and
   returns a :class:`~connectors.base.SourcePage` whose rows use the *Jushuitan field
   names* (so :class:`~connectors.models.RefundRow` etc. validate them unchanged).
2. Map Qimen error codes through a lookup table like ``connectors.jushuitan.errors`` onto
   the exceptions of :mod:`connectors.errors`; share the app's ``QuotaBudget`` if Qimen
   calls count against the same merchant quota (unknown: assume yes).
3. Select it with ``python -m connectors sync --source qimen`` (or the ``connectors.source``
   setting once added); cursors are per stream, so run it for the Taobao/Tmall shops'
   streams under a distinct state directory or topic prefix, and let Flink merge the
   money fields by key (``as_id`` / ``io_id``).
"""

from __future__ import annotations

from typing import NoReturn

from common.settings import Settings
from connectors.base import PageQuery
from connectors.errors import FatalConfigurationError

NOT_IMPLEMENTED = (
    "the Qimen gateway source is not implemented yet: use source 'jushuitan' "
    "(see connectors/qimen.py for how it will plug in)"
)


class QimenSource:
    """Placeholder with the :class:`~connectors.base.Source` shape; refuses to run."""

    name = "qimen"

    def __init__(self, settings: Settings):
        raise FatalConfigurationError(NOT_IMPLEMENTED)

    def supports(self, stream: str) -> bool:
        return stream in ("refund", "outbound")

    def max_page_size(self, stream: str) -> int:
        return 50

    def query(self, stream: str, query: PageQuery) -> NoReturn:
        raise FatalConfigurationError(NOT_IMPLEMENTED)

