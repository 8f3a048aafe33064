"""torch.nn wrapped so that it returns its results in another form: malformed (``MALFORMED``: each
must fail, never be an error) or equivalent (``EQUIVALENT``: each must conform).

``--rnn-impl=tests.returns:NAME`` names a sequence module (RNN, GRU, LSTM) returning the form NAME,
``tests.returns:cell_NAME`` a cell returning it, for the names in ``CELL_MALFORMED``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from conformance.registry import ModuleAdapter
from conformance.spec.config import DTYPES
from conformance.state import parts
from implementations.torch_nn import CELL_CLASSES, CLASSES


def grown(axis):
    """One more element along ``axis`` (the last axis if the tensor has fewer)."""

    def grow(t):
        a = min(axis, t.dim() - 1)
        return torch.cat([t, t.narrow(a, 0, 1)], dim=a)

    return grow


def object_array(t):
    array = np.empty(t.shape, dtype=object)
    array[...] = t.numpy()
    return array


def other_float(t):
    return t.to(torch.float32 if t.dtype == torch.float64 else torch.float64)


#: A malformed tensor in place of a right one.
BAD_TENSORS = {
    "axis0_longer": grown(0),
    "axis1_longer": grown(1),
    "axis2_longer": grown(2),
    "rank_up": lambda t: t.unsqueeze(0),
    "rank_down": lambda t: t[0],
    "none": lambda t: None,
    "python_float": lambda t: 1.0,
    "string": lambda t: "not a tensor",
    "list_of_floats": lambda t: t.tolist(),
    "object_array": object_array,
    "nan": lambda t: t * float("nan"),
    "int_dtype": lambda t: t.to(torch.int32),
    "other_float_dtype": other_float,
    "meta_device": lambda t: t.to("meta"),
}


def on_output(bad):
    """``bad`` applied to the output (a packed output's data, kept packed)."""

    def change(output, state):
        if isinstance(output, PackedSequence):
            return output._replace(data=bad(output.data)), state
        return bad(output), state

    return change


def on_h(bad):
    """``bad`` applied to h_n (LSTM: to h_n, c_n kept)."""

    def change(output, state):
        h, *rest = parts(state)
        return output, (bad(h), *rest) if rest else bad(h)

    return change


def kind_swapped(output, state):
    """h_n where (h_n, c_n) belongs, and (h_n, h_n) where h_n belongs."""
    return output, state[0] if isinstance(state, tuple) else (state, state)


def object_pair(output, state):
    pair = np.empty(2, dtype=object)
    pair[0], pair[1] = output, state
    return pair


#: What is checked of h_n as well (the rest reaches the same checks as for the output).
STATE_CHECKS = (
    "axis0_longer",
    "axis1_longer",
    "axis2_longer",
    "rank_up",
    "rank_down",
    "none",
    "object_array",
    "nan",
    "other_float_dtype",
    "meta_device",
)

#: name -> (output, state) -> what the implementation returns (a sequence module: output and h_n).
MALFORMED = {
    **{f"output_{name}": on_output(bad) for name, bad in BAD_TENSORS.items()},
    **{f"h_n_{name}": on_h(BAD_TENSORS[name]) for name in STATE_CHECKS},
    "state_kind_swapped": kind_swapped,
    "state_extra_item": lambda output, state: (output, (*parts(state), first_part(state))),
    "tuple_of_three": lambda output, state: (output, state, state),
    "list_of_three": lambda output, state: [output, state, state],
    "output_alone": lambda output, state: output,
    "none": lambda output, state: None,
    "numpy_object_pair": object_pair,
}

#: The malformations that make sense for a cell, which returns only its state h' (LSTM: (h', c')).
CELL_MALFORMED = [
    *(f"h_n_{name}" for name in ("axis0_longer", "axis1_longer", "rank_up", "rank_down", "meta_device")),
    "state_kind_swapped",
    "state_extra_item",
]


def first_part(state):
    return parts(state)[0]


def every_tensor(change, packed_data: bool = True):
    """``change`` applied to the output (a packed output's data, unless not ``packed_data``) and
    to every part of the state."""

    def apply(output, state):
        if not isinstance(output, PackedSequence):
            output = change(output)
        elif packed_data:
            output = output._replace(data=change(output.data))
        return output, tuple(map(change, state)) if isinstance(state, tuple) else change(state)

    return apply


def scattered(t):
    """The same values, stored with the first two axes swapped, every other element of a wider tensor."""
    if t.dim() >= 2:
        t = t.transpose(0, 1).contiguous().transpose(0, 1)
    return torch.stack([t, t], dim=-1)[..., 0]


def repack(output, state):
    """A packed output re-packed with pack_padded_sequence(enforce_sorted=False): the same
    sequences, with an explicit permutation (an identity one where the input had none)."""
    if not isinstance(output, PackedSequence):
        return output, state
    padded, lengths = pad_packed_sequence(output)
    return pack_padded_sequence(padded, lengths, enforce_sorted=False), state


def reorder(output, state):
    """A packed output re-packed with another order among sequences of equal length (the last
    of each run of equal lengths first)."""
    if not isinstance(output, PackedSequence):
        return output, state
    padded, lengths = pad_packed_sequence(output)
    order = sorted(range(len(lengths)), key=lambda i: (-int(lengths[i]), -i))
    order = torch.tensor(order)
    packed = pack_padded_sequence(padded[:, order], lengths[order], enforce_sorted=True)
    return PackedSequence(packed.data, packed.batch_sizes, order, torch.argsort(order)), state


#: name -> (output, state) -> an equivalent result.
EQUIVALENT = {
    "as_list": lambda output, state: [output, list(state) if isinstance(state, tuple) else state],
    # a PackedSequence holds tensors; its data stays one
    "numpy_arrays": every_tensor(lambda t: t.detach().numpy(), packed_data=False),
    "repacked": repack,
    "reordered": reorder,
    "non_contiguous": every_tensor(scattered),
    # an implementation that ignores torch.no_grad
    "requiring_grad": every_tensor(lambda t: t.detach().requires_grad_() * 1.0),
    # needs a GPU; the runner copies them back
    "on_cuda": every_tensor(lambda t: t.to("cuda")),
}


#: Equivalent forward results that cannot be differentiated (NumPy; detached copies).
NOT_DIFFERENTIABLE = {"numpy_arrays", "requiring_grad"}


class Returns:
    """torch.nn's modules (or cells) whose results ``change`` turns into another form."""

    modes = tuple(CLASSES)
    dtypes = DTYPES

    def __init__(self, change, cell: bool = False, differentiable: bool = True):
        self.change, self.is_cell = change, cell
        self.torch = ModuleAdapter(CELL_CLASSES if cell else CLASSES, cell=cell)
        self.not_claimed = set() if differentiable else {"gradients"}

    def build(self, config, weights):
        call = self.torch.build(config, weights)

        def changed(x, h0):
            if self.is_cell:
                return self.change(None, call(x, h0))[1]
            return self.change(*call(x, h0))

        changed.parameters = call.parameters
        return changed


class Nondeterministic(Returns):
    """Off by 0.5 the first time it sees an input, right from then on: Hypothesis's replay of a
    failing example passes."""

    def __init__(self):
        super().__init__(self.off_once, differentiable=False)
        self.seen, self.key = set(), None

    def build(self, config, weights):
        call = super().build(config, weights)

        def keyed(x, h0):
            data = x.data if isinstance(x, PackedSequence) else x
            self.key = (repr(config), data.numpy().tobytes(), repr(h0))
            return call(x, h0)

        return keyed

    def off_once(self, output, state):
        if self.key in self.seen:
            return output, state
        self.seen.add(self.key)
        return on_output(lambda t: t + 0.5)(output, state)


def __getattr__(name: str) -> Returns:
    """Called for names the module lacks: a form's name must not be one of the module's own."""
    if name.startswith("cell_") and name.removeprefix("cell_") in CELL_MALFORMED:
        return Returns(MALFORMED[name.removeprefix("cell_")], cell=True)
    if name in MALFORMED or name in EQUIVALENT:
        return Returns({**MALFORMED, **EQUIVALENT}[name], differentiable=name not in NOT_DIFFERENTIABLE)
    raise AttributeError(name)
