"""Build of finrisk's optional C kernel (the online feature engine's window slide and push).

Everything else about the package is in pyproject.toml. The extension is optional: when it does
not compile (no C compiler or no Python headers), the install still succeeds and the engine runs its
pure-Python code, saying so once in the log (finrisk.features._online_native).
"""

from __future__ import annotations

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that reports a failed compile instead of failing the install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure leaves the pure-Python fallback
            self._skip(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._skip(exc)

    @staticmethod
    def _skip(exc: Exception) -> None:
        print(f"finrisk: the optional C kernel was not built ({exc}); the pure-Python engine will run",
              file=sys.stderr)


setup(
    ext_modules=[Extension("finrisk.features._online_kernel", ["src/finrisk/features/_online_kernel.c"],
                           optional=True)],
    cmdclass={"build_ext": OptionalBuildExt},
)
