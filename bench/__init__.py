"""Benchmarks behind ``make bench``: each module has ``main(quick: bool) -> list[dict]`` and prints its figures."""
