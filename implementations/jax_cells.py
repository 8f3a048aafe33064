"""The RNN cells of flax.linen, flax.nnx and equinox, scanned over time with jax.lax.scan."""

from __future__ import annotations

import functools
import importlib
import importlib.metadata

import numpy as np
import torch

from conformance.registry import Call
from conformance.spec.config import Config
from conformance.state import map_state, parts

INSTALL = "pip install 'rnn-conformance[jax]'"
FLAX = "https://github.com/google/flax/blob/v0.12.8/flax"
EQUINOX = "https://github.com/patrick-kidger/equinox/blob/v0.13.8/equinox/nn/_rnn.py"


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return f"(not installed: {INSTALL})"


# --- torch's weights, as JAX blocks (jnp operations only: the conversion is traced, so JAX's VJP
# reaches torch's weights) -------------------------------------------------------------------------


def gates(weights, name: str, mode: str) -> list:
    """torch's weight or bias ``name`` of layer 0 (in ``weights``, JAX arrays by torch's names) split
    into its gate blocks (GRU r|z|n, LSTM i|f|g|o); zeros for a bias where ``bias=False`` (the cells
    always add one)."""
    import jax.numpy as jnp

    count = {"GRU": 3, "LSTM": 4}.get(mode, 1)
    if name not in weights:
        recurrent = weights["weight_hh_l0"]
        return [jnp.zeros(recurrent.shape[1], recurrent.dtype)] * count
    return jnp.split(weights[name], count)


def torch_blocks(weights, mode: str) -> dict:
    """W_i, W_h (lists of [H, in] blocks) and b_i, b_h (lists of [H] blocks) of layer 0."""
    names = {"W_i": "weight_ih_l0", "W_h": "weight_hh_l0", "b_i": "bias_ih_l0", "b_h": "bias_hh_l0"}
    return {key: gates(weights, name, mode) for key, name in names.items()}


# --- the frameworks -----------------------------------------------------------------------------------


class Framework:
    """How one framework's cell runs a step: ``step(config)`` is a pure function
    ``(params, carry, x_t) -> carry`` on batched arrays, the carry in torch's order (h, or (h, c));
    ``params(config, weights)`` its parameters converted from torch's (JAX arrays by torch's names),
    with jnp operations, inside the jitted forward."""

    name: str
    packages: tuple
    modes: tuple

    def step(self, config: Config):
        raise NotImplementedError

    def params(self, config: Config, weights):
        raise NotImplementedError


def dense(kernels, bias=None) -> dict:
    """A flax Dense/Linear's parameters: kernel [in, out] (y = x @ kernel + bias) from torch's
    [out, in] blocks, concatenated."""
    import jax.numpy as jnp

    layer = {"kernel": jnp.concatenate(kernels).T}
    if bias is not None:
        layer["bias"] = jnp.concatenate(bias)
    return layer


def lstm_dense(w: dict, if_name: str) -> dict:
    """flax's LSTMCell (linen and nnx): one Dense per gate and side, ii/if/ig/io without bias and
    hi/hf/hg/ho with one (linen/recurrent.py#L150-L170); torch's two biases are only ever summed."""
    names = ("i", "f", "g", "o")
    params = {("i" + n if n != "f" else if_name): dense([w["W_i"][k]]) for k, n in enumerate(names)}
    params.update({"h" + n: dense([w["W_h"][k]], [w["b_i"][k] + w["b_h"][k]]) for k, n in enumerate(names)})
    return params


class FlaxLinen(Framework):
    name = "flax.linen"
    packages = ("jax", "flax")
    modes = ("RNN_TANH", "RNN_RELU", "GRU", "LSTM")

    def cell(self, config: Config):
        import jax
        from flax import linen

        if config.mode == "GRU":
            return linen.GRUCell(features=config.hidden_size)
        if config.mode == "LSTM":
            return linen.LSTMCell(features=config.hidden_size)
        activation = jax.nn.relu if config.mode == "RNN_RELU" else jax.numpy.tanh
        return linen.SimpleCell(features=config.hidden_size, activation_fn=activation)

    def step(self, config: Config):
        cell = self.cell(config)
        if config.mode != "LSTM":
            return lambda params, h, x: cell.apply({"params": params}, h, x)[0]

        def step(params, carry, x):
            (c, h), _ = cell.apply({"params": params}, carry[::-1], x)  # flax's LSTM carry is (c, h)
            return h, c

        return step

    def params(self, config: Config, weights) -> dict:
        w = torch_blocks(weights, config.mode)
        if config.mode == "LSTM":
            return lstm_dense(w, "if")
        if config.mode != "GRU":
            # SimpleCell: dense_i(name='i') with a bias, dense_h(name='h') without
            # (linen/recurrent.py#L460-L477)
            return {"i": dense(w["W_i"], [w["b_i"][0] + w["b_h"][0]]), "h": dense(w["W_h"])}
        # GRUCell: ir/iz/in with biases, hr/hz without, hn with its own, which is torch's b_hn
        # inside r * (...) (linen/recurrent.py#L570-L594); b_hr and b_hz fold into b_ir and b_iz.
        (W_ir, W_iz, W_in), (W_hr, W_hz, W_hn) = w["W_i"], w["W_h"]
        (b_ir, b_iz, b_in), (b_hr, b_hz, b_hn) = w["b_i"], w["b_h"]
        return {
            "ir": dense([W_ir], [b_ir + b_hr]),
            "iz": dense([W_iz], [b_iz + b_hz]),
            "in": dense([W_in], [b_in]),
            "hr": dense([W_hr]),
            "hz": dense([W_hz]),
            "hn": dense([W_hn], [b_hn]),
        }


class FlaxNnx(Framework):
    name = "flax.nnx"
    packages = ("jax", "flax")
    modes = ("RNN_TANH", "RNN_RELU", "GRU", "LSTM")

    def cell(self, config: Config):
        import jax
        from flax import nnx

        # dtype is the computation's: nnx's default, float32, would round float64 weights.
        kwargs = dict(dtype=config.dtype, param_dtype=config.dtype, rngs=nnx.Rngs(0))
        if config.mode == "GRU":
            return nnx.GRUCell(config.input_size, config.hidden_size, **kwargs)
        if config.mode == "LSTM":
            return nnx.LSTMCell(config.input_size, config.hidden_size, **kwargs)
        activation = jax.nn.relu if config.mode == "RNN_RELU" else jax.numpy.tanh
        return nnx.SimpleCell(config.input_size, config.hidden_size, activation_fn=activation, **kwargs)

    def step(self, config: Config):
        import jax
        from flax import nnx

        # The cell's shapes only (nnx.eval_shape): its weights are replaced, so initialising them
        # (a compile of each initialiser per new shape, most of a build) would be wasted.
        graph, state = nnx.split(nnx.eval_shape(lambda: self.cell(config)))

        def step(params, carry, x):
            own = jax.tree_util.tree_map(lambda a: a, state)  # a copy: the template stays as it is
            nnx.replace_by_pure_dict(own, params)
            cell = nnx.merge(graph, own)
            if config.mode != "LSTM":
                return cell(carry, x)[0]
            (c, h), _ = cell(carry[::-1], x)  # the carry is (c, h), nnx/nn/recurrent.py#L212
            return h, c

        return step

    def params(self, config: Config, weights) -> dict:
        w = torch_blocks(weights, config.mode)
        if config.mode == "LSTM":
            # nnx's LSTMCell: linen's layout, with `if_` (nnx/nn/recurrent.py#L179-L186)
            return lstm_dense(w, "if_")
        if config.mode != "GRU":
            # SimpleCell: dense_i with the bias, dense_h without (nnx/nn/recurrent.py#L511-L547)
            return {"dense_i": dense(w["W_i"], [w["b_i"][0] + w["b_h"][0]]), "dense_h": dense(w["W_h"])}
        # GRUCell: dense_i [in, 3H] r|z|n with a bias, dense_h [H, 3H] with `use_bias=False`, and
        # `n = self.activation_fn(xi_n + r * hh_n)` (nnx/nn/recurrent.py#L669-L733): torch's b_hn
        # has no place (flax#5594). It is left out, not folded into b_in: the GRU clauses report it.
        (b_ir, b_iz, b_in), (b_hr, b_hz, _b_hn) = w["b_i"], w["b_h"]
        return {"dense_i": dense(w["W_i"], [b_ir + b_hr, b_iz + b_hz, b_in]), "dense_h": dense(w["W_h"])}


def is_weight(leaf) -> bool:
    """A weight of an equinox template cell: a JAX array, or its shape and dtype alone."""
    import equinox
    import jax

    return equinox.is_array(leaf) or isinstance(leaf, jax.ShapeDtypeStruct)


class Equinox(Framework):
    name = "equinox"
    packages = ("jax", "equinox")
    modes = ("GRU", "LSTM")  # equinox.nn has no Elman cell

    @functools.cache  # noqa: B019 (the frameworks are module-level, as long-lived as the cache)
    def cell(self, config: Config):
        """The template cell, built once per config, outside the traced forward: its shapes only
        (equinox.filter_eval_shape), as its weights are replaced."""
        import equinox
        import jax

        kind = equinox.nn.GRUCell if config.mode == "GRU" else equinox.nn.LSTMCell
        return equinox.filter_eval_shape(
            kind, config.input_size, config.hidden_size, use_bias=config.bias, key=jax.random.key(0)
        )

    def step(self, config: Config):
        import equinox
        import jax

        static = equinox.filter(self.cell(config), is_weight, inverse=True)
        # The cells take one row: (input, hidden) -> hidden, vmapped over the batch.
        return lambda params, carry, x: jax.vmap(equinox.combine(params, static))(x, carry)

    def params(self, config: Config, weights):
        """torch's own layout: weight_ih [G*H, in], weight_hh [G*H, H], gates r|z|n and i|f|g|o
        (`igates = jnp.split(self.weight_ih @ input + bias, 3)`, EQUINOX#L104); one bias, and for
        GRU `bias_n` inside `reset * (hgates[2] + bias_n)` (#L108), which is torch's b_hn."""
        import equinox
        import jax.numpy as jnp

        w = torch_blocks(weights, config.mode)
        arrays = {"weight_ih": weights["weight_ih_l0"], "weight_hh": weights["weight_hh_l0"]}
        if config.bias:
            summed = [i + h for i, h in zip(w["b_i"], w["b_h"])]
            if config.mode == "GRU":
                summed[2], arrays["bias_n"] = w["b_i"][2], w["b_h"][2]
            arrays["bias"] = jnp.concatenate(summed)
        cell = equinox.filter(self.cell(config), is_weight)
        return equinox.tree_at(lambda c: [getattr(c, k) for k in arrays], cell, list(arrays.values()))


# --- scanning ---------------------------------------------------------------------------------------


@functools.cache
def compiled(framework: Framework, config: Config):
    """One jitted forward pass per (framework, config): torch's weights (JAX arrays by torch's
    names, converted to the framework's parameters inside), time-major x [L, N, in] and the carry
    -> (output [L, N, H], final carry); jax.jit compiles it once per shape and dtype."""
    import jax

    step = framework.step(config)

    def forward(weights, x, carry):
        params = framework.params(config, weights)

        def body(carry, x_t):
            carry = step(params, carry, x_t)
            return carry, parts(carry)[0]

        carry, output = jax.lax.scan(body, carry, x)
        return output, carry

    return jax.jit(forward)


def to_jax(tensor):
    """A torch tensor's values as a JAX array."""
    import jax.numpy as jnp

    return jnp.asarray(tensor.detach().cpu().numpy())


def to_torch(array) -> torch.Tensor:
    """A JAX array as a torch tensor (copied: NumPy's view of a JAX array is read-only)."""
    return torch.from_numpy(np.array(array))


def as_carry(state: tuple):
    """The carry from its parts: h, or (h, c)."""
    return state if len(state) == 2 else state[0]


class Differentiated(torch.autograd.Function):
    """The jitted forward as a torch operation whose backward is JAX's VJP: gradients for x, the
    carry's parts and the weights (``tensors``: the carry's parts, then the weights in ``weights``'s
    order, whose JAX values ``weights`` holds)."""

    @staticmethod
    def forward(ctx, forward, weights, x, *tensors):
        import jax

        carry = as_carry(tuple(map(to_jax, tensors[: len(tensors) - len(weights)])))
        (output, carry), ctx.vjp = jax.vjp(forward, weights, to_jax(x), carry)
        ctx.names = list(weights)
        return tuple(map(to_torch, (output, *parts(carry))))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output, *grad_state):
        weights, x, carry = ctx.vjp((to_jax(grad_output), as_carry(tuple(map(to_jax, grad_state)))))
        grads = (x, *parts(carry), *(weights[name] for name in ctx.names))
        return None, None, *map(to_torch, grads)


class JaxCells:
    """A framework's cell as a one-layer, one-direction torch RNN: x laid out in time-major order
    (batch_first and unbatched input reshaped here), h_0's layer axis removed, and the cell scanned.
    Stacking, bidirectional and packed sequences would be this wrapper's, not the framework's: they
    are not claimed. Gradients are JAX's (its VJP of the jitted forward, weight conversion included,
    as a torch autograd Function)."""

    not_claimed = frozenset(
        {
            "multi_layer",  # the frameworks provide cells; chaining them would test this adapter
            "bidirectional",  # likewise a reverse scan
            "packed",  # the cells have no sequence lengths
            "projection",  # no proj_size in their LSTM cells
            "dropout",  # nothing between layers
        }
    )

    #: the harness runs its clause tests in the test process when JAX already runs there (no fork)
    uses_jax = True

    def __init__(self, framework: Framework):
        self.framework = framework
        self.modes = framework.modes

    @property
    def description(self) -> str:
        packages = ", ".join(f"{p} {version(p)}" for p in self.framework.packages)
        return f"{self.framework.name} cells scanned with jax.lax.scan ({packages}; {__name__})"

    def unavailable(self) -> str | None:
        try:
            for package in self.framework.packages:
                importlib.import_module(package)
        except ImportError:
            return f"{package} is not installed: {INSTALL}"
        import jax

        # float64 is claimed, and JAX computes in float64 only with x64 enabled (process-wide; float32
        # arrays still compute in float32).
        jax.config.update("jax_enable_x64", True)
        return None

    def build(self, config: Config, weights) -> Call:
        missing = self.unavailable()
        if missing:
            raise ImportError(missing)

        forward = compiled(self.framework, config)
        values = {name: to_jax(w) for name, w in weights.items()}

        def call(x, h0):
            if x.shape[0 if x.dim() == 2 or not config.batch_first else 1] == 0:
                # The time loop is this adapter's (the frameworks give cells only): it refuses an
                # empty sequence as torch does, so that no verdict blames the framework for it.
                raise ValueError(f"a sequence of length 0 (input shape {tuple(x.shape)})")
            # The layout is changed with torch operations, which autograd differentiates itself.
            unbatched = x.dim() == 2
            if unbatched:
                x, h0 = x[:, None], map_state(lambda s: s[:, None], h0)
            elif config.batch_first:
                x = x.transpose(0, 1)
            if h0 is None:
                zeros = x.new_zeros(x.shape[1], config.hidden_size)
                state = (zeros, zeros) if config.mode == "LSTM" else (zeros,)
            else:  # torch's [1, N, H] -> the cell's [N, H]; a wrong batch or width reaches the cell
                state = tuple(without_layer_axis(s) for s in parts(h0))
            tensors = (x, *state, *weights.values())
            if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
                output, *h_n = Differentiated.apply(forward, values, *tensors)
            else:
                output, carry = forward(values, to_jax(x), as_carry(tuple(map(to_jax, state))))
                output, h_n = to_torch(output), map(to_torch, parts(carry))
            h_n = as_carry(tuple(s[None] for s in h_n))
            if unbatched:
                return output[:, 0], map_state(lambda s: s[:, 0], h_n)
            return (output.transpose(0, 1) if config.batch_first else output), h_n

        return call


def without_layer_axis(state: torch.Tensor) -> torch.Tensor:
    """h_0's [1, N, H] as [N, H]; another first axis is refused, not cut to its first layer."""
    if state.dim() == 0 or state.shape[0] != 1:
        raise ValueError(f"h_0 of shape {tuple(state.shape)}: one layer, one direction is claimed")
    return state[0]


flax_linen = JaxCells(FlaxLinen())
flax_nnx = JaxCells(FlaxNnx())
equinox = JaxCells(Equinox())
