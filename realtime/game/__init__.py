"""The game: its rules as plain data, where games live (memory or Redis), and this process's part of it.

It may import `realtime.collect`, `realtime.model`, `realtime.core` and `realtime.infra`; never the web.
"""
