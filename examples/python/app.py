"""examples/python: a small application on python3-minimal.

python3-minimal carries only part of the standard library (no json, no sqlite3, no pip); hashlib, math, platform
and friends are there. Add python3 (or the python3-* packages you import) to the spec for the rest.
"""
import hashlib
import math
import os
import platform


def primes_below(n: int) -> list[int]:
    return [k for k in range(2, n) if all(k % d for d in range(2, math.isqrt(k) + 1))]


primes = primes_below(100)
print(f"{len(primes)} primes below 100, sum {sum(primes)}")
print(f"sha256(pith) = {hashlib.sha256(b'pith').hexdigest()}")
print(f"python {platform.python_version()} on {platform.machine()} as uid {os.getuid()}")
