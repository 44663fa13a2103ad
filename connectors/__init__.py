"""Sources: pull the ERP open API incrementally and produce raw records to Kafka ODS topics.

Layout (data flows top to bottom)::

    jushuitan/      signing, error-code table, HTTP client, quota budget and its ledger
                    (shared by every process on one app key), Source adapter
    qimen.py        the planned second Source (Taobao/Tmall money fields): a documented stub
    base.py         Source protocol + StreamConnector (commit order, parking, stats)
    tscursor.py     the ts-cursor loop     windowed.py  modified-time windows (SKU)
    fullscan.py     full-scan dimensions   retries.py   parked windows (retry list + DLQ)
    warehouse.py shop.py sku.py inventory.py outbound.py refund.py aftersale_received.py
    models.py       typed rows (items[] nested) + dead-letter records
    state.py        durable cursor files     kafka_producer.py  producer protocol + Kafka
    runner.py       a worker per stream, adaptive pace per target
    urgency.py      who gets the next call  cadence.py   normal / backoff / degraded
    initial_load.py first-load progress (totals, rows read) for ``sync --status``
    status.py       ``sync --status`` table  cli.py       run_sync(...), STREAMS registry
    simulator/      a local Jushuitan look-alike for tests and demos
"""
