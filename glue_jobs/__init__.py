"""Glue 5.0 (Spark 3.5) job scripts. They import the same domain core as the Lambda functions and the local runtime."""
