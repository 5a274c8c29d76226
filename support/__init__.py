"""What the tests and the benchmarks share, never shipped (not in pyproject.toml's packages, not in the Lambda bundle).

The independent recounts: the nightly job's counts (`exact_counts_sql`) and game KPIs (`kpi_sql`) re-derived in DuckDB
SQL from the raw files alone, the cross-check of the job in the tests and the baseline of the batch benchmarks.
The fixtures' writers and helpers: small raw archives in the archiver's layout (`raw_lake`), hostile records
(`hostile_records`), `headcount up` in its own process (`stack_process`, `reliability_stack`), the serve handler as a
WSGI app (`api_wsgi`), a stand-in Lambda handler for the gateway's tests (`gateway_function`), PySpark's DataFrame
comparison (`spark_frames`), and the `pytest --clock=…` plugin (`shifted_clock`).
"""
