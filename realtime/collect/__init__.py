"""Collected drawings (COLLECT_DRAWINGS): the table, the database, the bounded buffer and its writer.

It may import `realtime.core` and `realtime.infra`; never the model, the game or the web.
"""
