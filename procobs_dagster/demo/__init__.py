"""The demo pipeline behind `make demo` / `procobs demo`."""
