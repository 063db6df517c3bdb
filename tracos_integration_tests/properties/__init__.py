"""Hypothesis properties over the project's input surfaces."""
