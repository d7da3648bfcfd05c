"""Build the compiled executor; everything else is declared in pyproject.toml."""

import Cython
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "hvload.measure._exec",
        ["hvload/measure/_exec.pyx"],
        depends=["hvload/measure/_asm.h"],
        # Recorded in every run's metadata: which Cython generated the loop.
        define_macros=[("HVL_CYTHON_VERSION", f'"{Cython.__version__}"')],
        extra_compile_args=["-O3"],
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "initializedcheck": False,
            "cdivision": True,
            "embedsignature": True,
        },
    )
)
