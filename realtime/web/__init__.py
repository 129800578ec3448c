"""What speaks HTTP and Socket.IO: the blueprints, the live namespace, the gate, the transport guards,
the JSON codec and `compat`, the only module that touches the libraries' private internals.

It may import every layer below it; only the app factory (realtime.server) and the entry point
(realtime.__main__) import it.
"""
