"""The one compiled part of trailduck: the typed-column builder (trailduck/convert/_columns.c).

Everything else is in pyproject.toml. The extension is optional: where it cannot be compiled (no C compiler),
installing still works and the pure-Python converter (DuckDB's JSON functions, then Python) does the work.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "trailduck.convert._columns",
            ["trailduck/convert/_columns.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
