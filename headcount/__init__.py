"""headcount: exact and real-time player counts for game studios (a Lambda architecture on AWS serverless)."""

__version__ = "0.1.0"
