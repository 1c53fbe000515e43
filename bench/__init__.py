"""Benchmarks of the whole service against the simulators: a fault-injection soak and an ARM burst.

`python bench/soak.py --jobs N --json` and `python bench/burst.py --jobs N --json`; see README.md.
"""
