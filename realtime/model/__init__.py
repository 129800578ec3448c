"""The model: the `Model` protocol and its ranking, the model folder's files, the LiteRT recognizer, the
switcher that reloads it, and the live predictor that batches every connection's drawing.

It may import `realtime.core` and `realtime.infra`; never the game, collecting or the web.
"""
