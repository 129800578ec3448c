"""Plumbing the features share: running blocking calls off the event loop, rate limits, metrics, Redis.

It imports nothing else of the server.
"""
