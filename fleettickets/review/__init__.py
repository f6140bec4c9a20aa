"""Reviewing the places no provider knows: the queue (queue.py) and the local page (server.py)."""
