"""Builds diskcache_swift: the Python package plus its engine, a CPython extension written
in Swift (python-ext/), compiled with the Swift toolchain by the build_ext below."""

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
        scratch = os.path.join(ROOT, '.build-py%d%d' % sys.version_info[:2])
        include = sysconfig.get_paths()['include']
        cmd = [
            swift, 'build', '-c', 'release',
            '--package-path', os.path.join(ROOT, 'python-ext'),
            '--product', '_engine',
            '--scratch-path', scratch,
            '-Xcc', '-I' + include,
            '-Xswiftc', '-static-stdlib',
            '-Xswiftc', '-cross-module-optimization',
            '-Xlinker', '--strip-all',
        ]
        print(' '.join(cmd))
        subprocess.check_call(cmd)
        built = os.path.join(scratch, 'release', 'lib_engine.so')
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built, target)


setup(
    name='diskcache-swift',
    version='0.1.0',
    description='Disk cache with a Swift engine: a drop-in replacement for python-diskcache',
    packages=['diskcache_swift'],
    package_dir={'': 'python'},
    ext_modules=[Extension('diskcache_swift._engine', sources=[])],
    cmdclass={'build_ext': SwiftBuildExt},
    python_requires='>=3.10',
    zip_safe=False,
)
