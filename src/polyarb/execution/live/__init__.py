"""Live execution on the CLOB V2: signed orders over authenticated REST (see docs/orders.md)."""
