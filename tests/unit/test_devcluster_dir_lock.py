"""One demo or devcluster per directory: the lock refuses a second holder, and a dead holder's file blocks nobody."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubejit.devcluster.dir_lock import LOCK_NAME, DirectoryLock
from kubejit.domain.errors import Conflict, InvalidInput

_HOLD = (
    "import sys, time; from pathlib import Path\n"
    "from kubejit.devcluster.dir_lock import DirectoryLock\n"
    "DirectoryLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(600)\n"
)


def test_a_second_holder_is_refused_with_the_first_ones_pid_and_what_to_do(tmp_path: Path) -> None:
    with subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        try:
            with pytest.raises(Conflict) as refused:
                DirectoryLock(tmp_path).acquire()
            message = str(refused.value)
            assert f"(pid {holder.pid})" in message
            assert str(tmp_path) in message
            assert "--dir" in message
            assert (tmp_path / LOCK_NAME).read_text() == f"{holder.pid}\n", "the refused one did not touch it"
        finally:
            holder.kill()
            holder.wait()
    # killed: the kernel dropped its lock, the file it left behind blocks nobody
    stale = DirectoryLock(tmp_path)
    stale.acquire()
    stale.release()


def test_released_the_lock_can_be_taken_again_in_the_same_process(tmp_path: Path) -> None:
    first = DirectoryLock(tmp_path)
    first.acquire()
    with pytest.raises(Conflict):
        DirectoryLock(tmp_path).acquire()  # flock is per open file: a second open in one process is refused too
    first.release()
    again = DirectoryLock(tmp_path)
    again.acquire()
    again.release()


@pytest.mark.parametrize("how", ["others may write", "a symlink", "another user's"])
def test_a_directory_someone_else_could_have_made_is_refused_before_anything_is_written(
    tmp_path: Path, how: str
) -> None:
    directory = tmp_path / "demo"
    directory.mkdir(mode=0o700)
    if how == "others may write":
        directory.chmod(0o777)
    elif how == "a symlink":
        real, directory = directory, tmp_path / "link"
        directory.symlink_to(real)
    else:
        if os.getuid() != 0:
            pytest.skip("giving a directory to another user needs root")
        os.chown(directory, 65534, 65534)
    with pytest.raises(InvalidInput) as refused:
        DirectoryLock(directory).acquire()
    assert str(directory) in str(refused.value)
    assert "--dir" in str(refused.value)
    assert not (directory / LOCK_NAME).exists()
