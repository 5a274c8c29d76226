"""Adapters: the real-time and batch views over DynamoDB, the lake, and the SQL tables."""
