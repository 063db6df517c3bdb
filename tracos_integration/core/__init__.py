"""The pure domain core: models, translation and sync rules.

Nothing here imports dagster or pymongo, so every rule can be tested with literals.
"""
