"""Type-checks the Swift examples in the README and the DocC catalog against the built modules.

    python3 scripts/doc_snippets.py [BUILD_DIR]      # default .build/debug (after swift build)

Each ```swift block becomes the body of a function of its own (import lines are hoisted),
after a prelude declaring what the examples take as given: a `cache`, an `id`, a `Profile`...
A block that is a package manifest fragment (`.package(` / `.product(`) is checked for
product names the root Package.swift declares instead. Exits non-zero, printing the block and
swiftc's errors, if any example does not compile.
"""

import glob
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ['README.md'] + sorted(glob.glob('Sources/*/*.docc/*.md'))

# What the examples take as given: parameters of every wrapper function, and declarations.
PRELUDE = '''\
import DiskCache
import DiskCacheKit

let id = 42
let userID = 7
let name = "Ada"
let json = "{}"
func use(_ value: [UInt8]) {}
func render() async throws -> String { "" }
func onBlockingThread<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R { try body() }
struct Profile: Codable, Sendable {
    var id = 0
    var name = ""
    var visits = 0
}
let profile = Profile()
'''
PARAMETERS = 'cache: DiskCache, item: inout Item?'


def blocks(path):
    text = open(os.path.join(ROOT, path)).read()
    for match in re.finditer(r'^```swift\n(.*?)^```', text, re.S | re.M):
        line = text.count('\n', 0, match.start()) + 2
        yield line, match.group(1)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, '.build', 'debug')
    modules = os.path.join(build, 'Modules')
    if not os.path.isdir(modules):
        sys.exit('doc_snippets: no %s (run swift build first)' % modules)
    flags = ['-I', modules]
    for modulemap in glob.glob(os.path.join(build, 'CDiskCacheSupport.build', 'module.modulemap')) + glob.glob(
            os.path.join(ROOT, '.build', 'checkouts', 'swift-system', 'Sources', 'CSystem', 'include', 'module.modulemap')):
        flags += ['-Xcc', '-fmodule-map-file=' + modulemap]
    products = set(re.findall(r'\.library\(name: "(\w+)"', open(os.path.join(ROOT, 'Package.swift')).read()))
    failures = 0
    checked = 0
    for path in DOCS:
        for line, code in blocks(path):
            where = '%s:%d' % (path, line)
            if '.package(' in code or '.product(' in code:
                named = set(re.findall(r'\.product\(name: "(\w+)", package: "DiskCache"\)', code))
                if not named <= products:
                    print('%s: the manifest names products the package lacks: %s' % (where, sorted(named - products)))
                    failures += 1
                checked += 1
                continue
            body = '\n'.join('    ' + l for l in code.splitlines() if not l.startswith('import '))
            source = PRELUDE + '\nfunc example(%s) async throws {\n%s\n}\n' % (PARAMETERS, body)
            with tempfile.NamedTemporaryFile('w', suffix='.swift', delete=False) as f:
                f.write(source)
            result = subprocess.run(['swiftc', '-typecheck', f.name] + flags, capture_output=True, text=True)
            os.unlink(f.name)
            checked += 1
            errors = [l for l in (result.stdout + result.stderr).splitlines() if 'error:' in l]
            if result.returncode != 0 or errors:
                failures += 1
                print('%s: does not compile:\n%s\n%s' % (where, code, '\n'.join(errors) or result.stderr))
    print('doc_snippets: %d Swift examples checked, %d failing' % (checked, failures))
    sys.exit(1 if failures else 0)


if __name__ == '__main__':
    main()
