"""Digest files: their signatures and chain, and `trailduck verify`'s verdict on each log file."""
