"""Dashboard HTTP API (FastAPI); talks to the engine only through the bus."""
