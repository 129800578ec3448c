"""Benchmarks: the server as deployed (`python -m bench`) and the rasterizer (`python -m bench.rasterize`)."""
