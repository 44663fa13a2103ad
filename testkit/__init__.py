"""What the tests and the benchmarks share, imported normally by both: stacks of their
own on free ports (``support``), local stand-ins for the chat vendors that check their
protocols (``chat_receivers``), the alert service as a process (``alert_process``), and
the backfill-beside-live drill (``live_drill``). Not used by the product itself."""
