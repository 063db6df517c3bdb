"""Thin Dagster ops: fetch through the resource or IO manager, call the sync, record metadata."""
