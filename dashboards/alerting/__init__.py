"""Threshold alerts evaluated on the warehouse: rules as code, the per-item state machine,
silences, and (to come) the channels that carry the messages."""
