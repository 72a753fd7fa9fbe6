"""Composition root of the trading process (to be built)."""
