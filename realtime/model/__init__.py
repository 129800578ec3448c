"""The model: the `Model` protocol, its loader and its ranking, the model folder's files, the one LiteRT
runner and the recognizer on it, the switcher that reloads it, and the live predictor that batches every
connection's drawing.

It may import `realtime.core` and `realtime.infra`; never the game, collecting or the web.
"""
