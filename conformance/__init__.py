"""rnn-conformance: an executable specification of torch.nn.RNN/GRU, checked by Hypothesis."""

from .case import Case
from .spec.config import Config

__version__ = "0.1.0"
__all__ = ["Case", "Config", "__version__"]
