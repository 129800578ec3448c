"""Real processes and real data for development, tests and benchmarks, never imported by the server.

`processes` starts, waits for and stops server processes and redis-server; `cluster` is
`python -m harness.cluster` (`make cluster`): workers behind nginx sharing a private redis-server;
`quickdraw` reads the Quick, Draw! sample in ../shared (never copied).
"""
