"""The drawing itself: refused input, the rasterizer, the incremental raster, images, the protocol's rules,
and a connection's drawing state.

Pure functions and plain state on NumPy and OpenCV. It imports nothing else of the server: the trainer, the
benchmarks and every other layer build on it.
"""
