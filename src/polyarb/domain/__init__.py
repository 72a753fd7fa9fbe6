"""The vocabulary of polyarb: pure types, no I/O, stdlib only."""
