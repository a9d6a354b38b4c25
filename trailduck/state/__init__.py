"""The checkpoint: which keys of each stream are done, and the store that saves it atomically."""
