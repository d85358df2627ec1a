"""The benchmarks behind `make bench`: bench/run.py says what each one measures."""
