"""Made-up trails: the generator (tests, benchmark, demo), its events and planted detection cases, signed
digests, and `trailduck demo`."""
