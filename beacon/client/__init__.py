"""The Sync 1.5 client: transport, token and storage clients, local store, engines, charts.

Nothing here imports ``beacon.server``; both stand on the protocol primitives.
"""
