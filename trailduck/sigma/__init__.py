"""Sigma rules on the lake: pySigma parses and converts them (``backend.py``, fields in ``fields.py``), ``rules.py``
reads rule files one at a time, ``run.py`` runs them and makes their views. The semantics are in README.md."""
