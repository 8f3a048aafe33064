"""torch.nn.RNN / GRU / LSTM as reference implementations, on the CPU and on CUDA."""

from __future__ import annotations

import torch

from conformance.registry import Call, ConstructibleAdapter, ModuleAdapter
from conformance.spec.config import DTYPES, REDUCED_DTYPES, Config

CLASSES = {"RNN_TANH": torch.nn.RNN, "RNN_RELU": torch.nn.RNN, "GRU": torch.nn.GRU, "LSTM": torch.nn.LSTM}
CELL_CLASSES = {
    "RNN_TANH": torch.nn.RNNCell,
    "RNN_RELU": torch.nn.RNNCell,
    "GRU": torch.nn.GRUCell,
    "LSTM": torch.nn.LSTMCell,
}


class TorchCUDA(ModuleAdapter):
    """On CUDA, with TF32 pinned off so float32 is compared at float32 precision."""

    def __init__(self):
        super().__init__(CLASSES, device="cuda")
        self.description += (
            " (TF32 off: torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False)"
        )

    def unavailable(self) -> str | None:
        if not torch.cuda.is_available():
            return "torch.cuda.is_available() is False: no CUDA GPU here (or a CPU-only torch build)"
        return None

    def build(self, config: Config, weights: dict[str, torch.Tensor]) -> Call:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        return super().build(config, weights)


# torch 2.13 runs RNN, GRU and LSTM in bfloat16 and float16 on the CPU (see compare.py for their tolerances).
cpu: ConstructibleAdapter = ModuleAdapter(CLASSES, device="cpu", dtypes=DTYPES + REDUCED_DTYPES)
cuda: ConstructibleAdapter = TorchCUDA()
