"""Made-up trails: the generator (tests, benchmark, demo), signed digests, and `trailduck demo`."""
