import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    'ci',
    max_examples=60,
    stateful_step_count=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    'thorough',
    max_examples=300,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))


@pytest.fixture
def tmpdir_path():
    path = tempfile.mkdtemp(prefix='dcs-test-')
    yield path
    shutil.rmtree(path, ignore_errors=True)


FAULTFS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'faultfs.py')
IS_ROOT = os.geteuid() == 0


@pytest.fixture
def faultfs(tmpdir_path):
    if not IS_ROOT or not os.path.exists('/dev/fuse'):
        pytest.skip('FUSE needs root and /dev/fuse')
    if subprocess.run(['/usr/bin/python3', '-c', 'import fusepy'], capture_output=True).returncode != 0:
        pytest.skip('python3-fusepy not installed (scripts/setup.sh installs it)')
    root = os.path.join(tmpdir_path, 'root')
    mnt = os.path.join(tmpdir_path, 'mnt')
    control = os.path.join(tmpdir_path, 'faults.json')
    os.mkdir(root)
    os.mkdir(mnt)
    log = open(os.path.join(tmpdir_path, 'faultfs.log'), 'w')
    proc = subprocess.Popen(['/usr/bin/python3', FAULTFS, root, mnt, control], stderr=log, stdout=log)
    deadline = time.time() + 20
    while not os.path.ismount(mnt):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            log.close()
            pytest.fail('faultfs did not mount: %s' % open(log.name).read()[-2000:])
        time.sleep(0.05)

    def set_rules(rules):
        with open(control + '.new', 'w') as f:
            json.dump({'rules': rules}, f)
        os.replace(control + '.new', control)

    try:
        yield mnt, set_rules
    finally:
        subprocess.run(['fusermount3', '-u', mnt], capture_output=True)
        subprocess.run(['umount', '-l', mnt], capture_output=True)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
