"""The metric catalogue: every metric defined once, exposed as FINAL-free warehouse views.

``catalogue.METRICS`` lists each metric (name, zh-CN label, formula, grain, sources) and
the view it lives in; ``views`` turns the definitions into ``CREATE VIEW`` statements over
the DWS serving tables, and ``docs`` renders docs/metrics.md from the same definitions.
"""
