"""Builds the engine of diskcache_swift: a CPython extension written in Swift (python-ext/),
compiled with the Swift toolchain by the build_ext below. Everything else about the
distribution is declared in pyproject.toml."""

import os
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


class SwiftBuildExt(build_ext):
    """Runs `swift build` for the `_engine` product and copies the library into place."""

    def build_extension(self, ext):
        swift = shutil.which('swift') or '/opt/swift/usr/bin/swift'
        # One scratch folder per Python version: the module is compiled against that
        # version's headers, and SwiftPM would otherwise rebuild on every switch.
        scratch = os.path.join(ROOT, '.build-py%d%d' % sys.version_info[:2])
        include = sysconfig.get_paths()['include']
        cmd = [
            swift, 'build', '-c', 'release',
            '--package-path', os.path.join(ROOT, 'python-ext'),
            '--product', '_engine',
            '--scratch-path', scratch,
            '-Xcc', '-I' + include,
            # The Swift runtime goes into the module itself, so the wheel runs where no
            # toolchain is installed.
            '-Xswiftc', '-static-stdlib',
            '-Xswiftc', '-cross-module-optimization',
            # No dynamic exclusivity checks in the extension nor in the engine built into it
            # (they cost a write ~6% and a get ~5%): every call holds the GIL and the engine
            # its mutex, and `swift test` runs the engine with the checks on.
            '-Xswiftc', '-enforce-exclusivity=unchecked',
            '-Xlinker', '--strip-all',
        ]
        print(' '.join(cmd))
        subprocess.check_call(cmd)
        built = os.path.join(scratch, 'release', 'lib_engine.so')
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built, target)


setup(
    ext_modules=[Extension('diskcache_swift._engine', sources=[])],
    cmdclass={'build_ext': SwiftBuildExt},
)
