"""NumPy's BLAS on one thread while the oracle runs: its matrices are small, and threads only wait."""

from __future__ import annotations

import functools

from threadpoolctl import ThreadpoolController


@functools.cache
def blas():
    """The BLAS libraries loaded in this process (NumPy's OpenBLAS), found once."""
    return ThreadpoolController().select(user_api="blas")


def one_thread(function):
    """``function`` with BLAS limited to one thread for the duration of each call.

    The oracle multiplies matrices of at most a few hundred rows, one time step at a time.
    OpenBLAS splits a complex matrix product of that size between its threads (a real one only when
    larger), and its threads spin while they wait for each other: with another process busy on the
    other core of a 2-core machine, a complex-step derivative of a 3-layer bidirectional GRU with 64
    units took 1.5 s instead of 19 ms. The implementation's own calls are not limited."""

    @functools.wraps(function)
    def limited(*args, **kwargs):
        with blas().limit(limits=1):
            return function(*args, **kwargs)

    return limited
