"""The `trailduck` command: a thin layer over the library that parses options and renders results."""
