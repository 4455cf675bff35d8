"""The vector code is compiled inside its `#[target_feature]` entry points.

A closure or helper that LLVM does not inline into the dispatched entry point is compiled without
the entry point's target features, and every SIMD intrinsic in it becomes an out-of-line call
(`core::core_arch::...`): correct, but several times slower. That happened silently to the
probability-target cross-entropy row and to the online softmax route. This test disassembles the
built extension and fails if any function calls an intrinsic. It skips where `objdump` is missing
or the library carries no symbols, and off x86-64.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess

import pytest

from softloss import _native

CALL = re.compile(r"\bcall\w*\s.*<(core::core_arch::[^>]*)>")
FUNCTION = re.compile(r"^[0-9a-f]+ <(.*)>:$")


def test_no_simd_intrinsic_is_called_out_of_line() -> None:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        # NEON is part of aarch64's baseline: no entry point there has features of its own.
        pytest.skip("the x86-64 entry points' target features only")
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump is not installed")
    text = subprocess.run(
        [objdump, "-d", "-C", "--no-show-raw-insn", _native.__file__],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    functions = [m.group(1) for m in map(FUNCTION.match, text.splitlines()) if m]
    if not any("softloss" in f for f in functions):
        pytest.skip("the extension is stripped of symbols")
    callers: dict[str, set[str]] = {}
    current = ""
    for line in text.splitlines():
        if head := FUNCTION.match(line):
            current = head.group(1)
        elif call := CALL.search(line):
            callers.setdefault(current, set()).add(call.group(1))
    # CPU feature detection (std_detect, compiler_builtins) legitimately calls cpuid helpers.
    ours = {
        f: c for f, c in callers.items() if "std_detect" not in f and "compiler_builtins" not in f
    }
    assert not ours, ours
