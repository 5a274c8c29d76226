"""The embedded AWS: everything `headcount up` runs on one machine, on 127.0.0.1."""
