"""What the pipeline costs on AWS: usage measured on the local stack (headcount/local/meter.py), priced at list prices."""
