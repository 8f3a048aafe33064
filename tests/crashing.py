"""Implementations that crash, hang or are slow: the isolation tests' subjects (tests/test_isolation.py),
and the README's walkthrough of a crash and a budget."""

import ctypes
import os
import signal
import time

import torch


class Crashes(torch.nn.GRU):
    """torch.nn.GRU, except: it aborts on a length-0 sequence (as ONNX Runtime's GRU does), dies of
    SIGSEGV on an input of rank 1 or 4, never returns for an input of the wrong width, and holds
    the GIL for an hour (native code, out of reach of a thread's time limit) on an h_0 of the
    wrong shape."""

    def forward(self, x, hx=None):
        if isinstance(x, torch.Tensor):
            if x.dim() not in (2, 3):
                os.kill(os.getpid(), signal.SIGSEGV)
            if x.numel() == 0:
                os.abort()
            if x.shape[-1] != self.input_size:
                time.sleep(3600)
            if hx is not None and hx.shape[-1] != self.hidden_size:
                ctypes.PyDLL(None).sleep(3600)
        return super().forward(x, hx)


class Slow(torch.nn.GRU):
    """torch.nn.GRU, SLOW seconds a call."""

    def forward(self, x, hx=None):
        time.sleep(float(os.environ.get("SLOW", "0.15")))
        return super().forward(x, hx)


class Threaded(torch.nn.GRU):
    """torch.nn.GRU that also runs a parallel region of torch's OpenMP pool in every call (a large
    elementwise op), as large kernels do; and says in which process it runs."""

    def forward(self, x, hx=None):
        torch.ones(1 << 20).exp_().sum()
        with open(os.environ["PIDS"], "a") as pids:
            pids.write(f"{os.getpid()}\n")
        return super().forward(x, hx)
