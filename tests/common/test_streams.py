"""One list of streams: each stage covers exactly the streams of ``common.streams``."""

from __future__ import annotations

import pytest

from common import streams

pytestmark = pytest.mark.unit


def test_the_connectors_pull_every_erp_stream_dimensions_first() -> None:
    from connectors.registry import STREAMS

    assert tuple(STREAMS) == streams.ERP_STREAMS
    assert set(streams.ERP_STREAMS) == set(streams.ODS_STREAMS) - {"shop_sheet"}


def test_the_flink_job_reads_every_ods_stream() -> None:
    from flink_jobs.dimensions_sql import DIMENSION_STREAMS
    from flink_jobs.pipeline_job import PARSED_STREAMS

    parsed = tuple(spec.stream for spec in PARSED_STREAMS)
    assert parsed == streams.FACT_STREAMS
    assert DIMENSION_STREAMS == streams.DIMENSION_STREAMS


def test_the_backfill_and_the_dead_letters_cover_their_streams() -> None:
    from backfill.days import BACKFILL_STREAMS
    from backfill.dead_letters import DLQ_STREAMS

    assert BACKFILL_STREAMS == streams.FACT_STREAMS
    assert DLQ_STREAMS == streams.ODS_STREAMS
