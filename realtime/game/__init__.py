"""The game: its rules as plain data (rules), where games live (rooms: memory or Redis), the clock it runs
on (clock), and this process's part of it (play, with its seats, the board's thumbnails and the keeping of
each round's drawing).

It may import `realtime.collect`, `realtime.model`, `realtime.core` and `realtime.infra`; never the web.
"""
