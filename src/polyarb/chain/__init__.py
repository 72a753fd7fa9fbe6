"""Polygon transactions of the venue's contracts: ABI calls, EIP-1559 signing, redeem planning.

Pure (no I/O): the submitter that talks JSON-RPC lives in ``execution/chain.py``.
"""
