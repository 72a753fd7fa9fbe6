"""Execution: paper (simulated fills), log-only (intents logged) and, later, live (CLOB)."""
