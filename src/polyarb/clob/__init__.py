"""The CLOB V2 protocol, pure: EIP-712 order signing, L1/L2 request authentication and the
price/size to base-unit amounts of an order. Shared by the live execution client (which signs)
and the simulator (which verifies), so both speak the venue's exact bytes; no I/O here."""
