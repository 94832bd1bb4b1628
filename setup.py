"""Build bt: Cython extensions against numpy and the capstone wheel's own C library.

The capstone wheel ships ``capstone/lib/libcapstone.so`` whose SONAME is
``libcapstone.so.5``, a file name the wheel does not ship.  Linking against it
directly would make our extension load only after ``import capstone`` had put
the library in the process.  We choose instead to ship the library ourselves:
the build copies it next to the extension under its SONAME and links with an
``$ORIGIN`` rpath, so ``bt.decoder`` loads on its own, with no LD_LIBRARY_PATH
and no import-order dependency.
"""
import os
import shutil

import numpy
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext


def capstone_dirs():
    import capstone
    root = os.path.dirname(capstone.__file__)
    inc, lib = os.path.join(root, "include"), os.path.join(root, "lib")
    if not os.path.exists(os.path.join(lib, "libcapstone.so")):
        raise SystemExit(f"bt build: capstone wheel at {root} has no lib/libcapstone.so")
    return inc, lib


CS_INC, CS_LIB = capstone_dirs()
CS_SONAME = "libcapstone.so.5"


# GCC's growth limits let it inline the small helpers (rptr, wptr, the lazy
# conditions) into the one large function of micro-op handlers, run_uops:
# measured +20-30 % on the bench workloads.  Other compilers do not get them.
GCC_ONLY_ARGS = ["--param", "large-function-growth=1000", "--param", "inline-unit-growth=200"]


def is_gcc(cmd):
    import subprocess
    try:
        out = subprocess.run(cmd[:1] + ["--version"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "Free Software Foundation" in out and "clang" not in out


class BuildExt(build_ext):
    def build_extensions(self):
        if is_gcc(getattr(self.compiler, "compiler_so", None) or ["cc"]):
            for ext in self.extensions:
                ext.extra_compile_args = list(ext.extra_compile_args) + GCC_ONLY_ARGS
        super().build_extensions()

    def run(self):
        super().run()
        # Place libcapstone under its SONAME beside the extension that needs it.
        dest = os.path.dirname(self.get_ext_fullpath("bt.decoder"))
        os.makedirs(dest, exist_ok=True)
        shutil.copyfile(os.path.join(CS_LIB, "libcapstone.so"), os.path.join(dest, CS_SONAME))

    def get_outputs(self):
        outs = super().get_outputs()
        dest = os.path.dirname(self.get_ext_fullpath("bt.decoder"))
        return outs + [os.path.join(dest, CS_SONAME)]


common = dict(
    include_dirs=[numpy.get_include(), CS_INC, "bt"],
    extra_compile_args=["-O2", "-fno-strict-aliasing", "-Wno-unused-function",
                        "-Wno-unreachable-code", "-Wno-unused-variable"],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
)

extensions = [
    Extension("bt.decoder", ["bt/decoder.pyx"],
              extra_link_args=[os.path.join(CS_LIB, "libcapstone.so"), "-Wl,-rpath,$ORIGIN"],
              **common),
    Extension("bt._jit", ["bt/_jit.pyx"], depends=["bt/fpu_host.h"], **common),
]

setup(
    name="bt",
    version="0.1.0",
    description="A user-space hypervisor for IA-32 guests built on dynamic binary translation",
    packages=find_packages(include=["bt", "bt.*"]),
    package_data={"bt": ["*.pxd", "*.pxi", "*.pyx", "*.h"], "bt.guests": ["*.elf"]},
    python_requires=">=3.11",
    install_requires=["numpy>=1.24", "capstone>=5.0,<6"],
    extras_require={
        "test": ["pytest", "ziglang==0.17.1", "pytest-benchmark", "unicorn>=2.0", "keystone-engine", "hypothesis"],
        "bench": ["ziglang==0.17.1", "unicorn>=2.0", "matplotlib", "pytest-benchmark"],
    },
    entry_points={"console_scripts": ["bt = bt.cli:main"]},
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False,
                             "cdivision": True, "initializedcheck": False},
    ),
    cmdclass={"build_ext": BuildExt},
    zip_safe=False,
)
