"""Sources: pull the ERP open API incrementally and produce raw records to Kafka ODS topics.

Layout (data flows top to bottom)::

    jushuitan/      signing, error-code table, HTTP client, quota pacing, Source adapter
    base.py         Source protocol + StreamConnector with the ts-cursor loop
    windowed.py     modified-time window loop (streams without ts, e.g. SKU)
    inventory.py    InventoryConnector   sku.py  SkuConnector
    models.py       typed rows + dead-letter records
    state.py        durable cursor files     kafka_producer.py  producer protocol + Kafka
    cli.py          run_sync(...) used by the erpbi CLI
    simulator/      a local Jushuitan look-alike for tests and demos
"""
