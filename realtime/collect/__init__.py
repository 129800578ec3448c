"""Collected drawings (COLLECT_DRAWINGS): the table and the database (`store`), the bounded buffer and its
writer (`collector`).

It may import `realtime.core` and `realtime.infra`; never the model, the game or the web.
"""
