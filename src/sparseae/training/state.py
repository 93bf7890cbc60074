"""The state of a training run, saved with the parameters in a checkpoint.

Everything that decides the next parameters lives in :class:`MinibatchState`:
the random generator, the optimiser's state, the running ρ̂, the samples since
each unit last fired (whence the dead units of the auxiliary loss), the order
of the epoch in progress and how far into it the run is, and the
early-stopping counters.  Saved with the parameters, it lets a run interrupted
anywhere resume and end with parameters bit-identical to a run that was never
interrupted.
A state read from a file is checked field by field before it is trusted.
:class:`LbfgsRun` does the same for L-BFGS, around the solver's own
:class:`~sparseae.solvers.lbfgs.LbfgsState`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from numbers import Integral, Real
from operator import attrgetter

import numpy as np

from ..solvers.lbfgs import LbfgsState
from ..solvers.minibatch import OPTIMIZERS, SGD, Adam

__all__ = [
    "AUTO_BATCH_SIZE",
    "SAVED_FIELDS",
    "LbfgsRun",
    "MinibatchState",
    "data_fingerprint",
]

# batch_size="auto": this many samples, or all of them when there are fewer.
AUTO_BATCH_SIZE = 256

# The per-epoch sums: the loss terms, then the mean ρ̂.
N_SUMS = 5
# What MinibatchState.to_saved writes as JSON, and from_saved requires.
SAVED_FIELDS = frozenset(
    {
        "rng",
        "optimizer",
        "position",
        "sums",
        "best_loss",
        "no_improvement",
        "start_loss",
        "fitting",
        "fingerprint",
    }
)


def data_fingerprint(X: np.ndarray) -> str:
    """A digest of ``X``'s shape, type and bytes, to refuse resuming on other data.

    Examples
    --------
    >>> import numpy as np
    >>> data_fingerprint(np.zeros((2, 3))) == data_fingerprint(np.zeros((3, 2)))
    False
    """
    digest = hashlib.blake2b(f"{X.shape}{X.dtype.str}".encode(), digest_size=16)
    if hasattr(X, "toarray"):
        # A sparse matrix digests as its dense equal, a block of rows at a time.
        step = max(1, (16 << 20) // max(1, X.shape[1] * X.dtype.itemsize))
        for start in range(0, X.shape[0], step):
            digest.update(X[start : start + step].toarray().data)
        return digest.hexdigest()
    digest.update(np.ascontiguousarray(X).data)
    return digest.hexdigest()


@dataclass(eq=False)
class MinibatchState:
    """Everything a minibatch run needs besides the parameters and the data.

    Attributes
    ----------
    rng : numpy.random.Generator
        Draws each epoch's order.
    optimizer : SGD or Adam
        With its velocity or moment estimates.
    rho_hat : ndarray of shape (n_hidden,) or None
        ρ̂ after the last step (running or batch estimate).
    permutation : ndarray of shape (n_samples,) or None
        Order of the epoch in progress; None between epochs.
    position : int
        Minibatches of that epoch already taken.
    sums : list of float
        Sums over those minibatches of the four loss terms and of the mean ρ̂.
    since_fired : ndarray of int64, shape (n_hidden,), or None
        Samples each unit has gone without firing (a unit fires in a batch
        when its activations there are not all 0); None before the first step.
    best_loss, no_improvement : float, int
        Early-stopping record: best epoch loss, epochs since it improved.
    start_loss : float or None
        Loss of the first step, the yardstick of divergence.
    fitting : bool
        Whether a ``fit`` is under way (interrupted), so ``resume_fit`` can go on.
    fingerprint : str or None
        :func:`data_fingerprint` of the data of that fit.
    decoder_direction : ndarray of shape (n_features, n_hidden) or None
        With ``unit_norm_decoder``, the decoder V that the steps move, whose
        columns are rescaled to unit norm before each step: the model shows
        W2 = V / ‖V‖, and a resumed or extended run goes on from V itself,
        bit for bit.  None otherwise.
    """

    rng: np.random.Generator
    optimizer: SGD | Adam
    rho_hat: np.ndarray | None = None
    permutation: np.ndarray | None = None
    position: int = 0
    sums: list[float] = field(default_factory=lambda: [0.0] * N_SUMS)
    since_fired: np.ndarray | None = None
    best_loss: float = float("inf")
    no_improvement: int = 0
    start_loss: float | None = None
    fitting: bool = False
    fingerprint: str | None = None
    decoder_direction: np.ndarray | None = None

    def to_saved(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays and JSON-ready values that :meth:`from_saved` restores exactly."""
        opt_arrays, opt_numbers = self.optimizer.state_dict()
        arrays = {f"optimizer.{k}": v for k, v in opt_arrays.items()}
        if self.rho_hat is not None:
            arrays["rho_hat"] = self.rho_hat
        if self.permutation is not None:
            arrays["permutation"] = self.permutation
        if self.since_fired is not None:
            arrays["since_fired"] = self.since_fired
        if self.decoder_direction is not None:
            arrays["decoder_direction"] = self.decoder_direction
        numbers = {
            "rng": self.rng.bit_generator.state,
            "optimizer": {"name": self.optimizer.name, **opt_numbers},
            "position": self.position,
            "sums": list(self.sums),
            # JSON has no infinity; None stands for "no epoch finished yet".
            "best_loss": None if np.isinf(self.best_loss) else self.best_loss,
            "no_improvement": self.no_improvement,
            "start_loss": self.start_loss,
            "fitting": self.fitting,
            "fingerprint": self.fingerprint,
        }
        return arrays, numbers

    @classmethod
    def from_saved(cls, arrays: dict, numbers: dict) -> MinibatchState:
        """Rebuild a state from :meth:`to_saved`.

        Raises
        ------
        ValueError
            If a field is missing, unknown, or of the wrong type.  Use
            :meth:`check` for the consistency with a model.
        """
        if not isinstance(numbers, dict) or set(numbers) != SAVED_FIELDS:
            got = sorted(numbers) if isinstance(numbers, dict) else type(numbers)
            raise ValueError(f"fields must be {sorted(SAVED_FIELDS)}, got {got}")
        numbers = _upgraded(numbers)
        unknown = {k for k in arrays if not k.startswith("optimizer.")}
        unknown -= {"rho_hat", "permutation", "since_fired", "decoder_direction"}
        if unknown:
            raise ValueError(f"unknown arrays {sorted(unknown)}")
        try:
            rng = _generator(numbers["rng"])
            opt_numbers = dict(numbers["optimizer"])
            optimizer = OPTIMIZERS[opt_numbers.pop("name")].from_state(
                {k.removeprefix("optimizer."): v for k, v in arrays.items()},
                opt_numbers,
            )
            best = numbers["best_loss"]
            state = cls(
                rng=rng,
                optimizer=optimizer,
                rho_hat=arrays.get("rho_hat"),
                permutation=arrays.get("permutation"),
                position=numbers["position"],
                sums=list(numbers["sums"]),
                # Counted in place: a copy of what may be a read-only buffer.
                since_fired=_copy(arrays.get("since_fired")),
                best_loss=float("inf") if best is None else best,
                no_improvement=numbers["no_improvement"],
                start_loss=numbers["start_loss"],
                fitting=numbers["fitting"],
                fingerprint=numbers["fingerprint"],
                decoder_direction=_copy(arrays.get("decoder_direction")),
            )
        except (KeyError, TypeError, AttributeError, OverflowError) as error:
            raise ValueError(f"{type(error).__name__}: {error}") from None
        _check_numbers(state)
        # The generator and the optimiser fill in what is missing and ignore
        # what they do not know; saving again shows either.
        again = state.to_saved()[1]
        changed = sorted(k for k in numbers if again[k] != numbers[k])
        if changed:
            raise ValueError(f"{changed} have missing or unknown entries")
        return state

    def check(self, n_params: int, n_hidden: int, dtype, batch_size) -> None:
        """Raise ``ValueError`` unless this state can go on training such a model.

        Parameters
        ----------
        n_params, n_hidden : int
            Size of the flat parameter vector and number of hidden units.
        dtype : dtype
            Floating type of the parameters.
        batch_size : int or "auto"
            The model's ``batch_size``.
        """
        optimizer = self.optimizer
        if isinstance(optimizer, Adam):
            moments = [n for n in ("m", "v") if getattr(optimizer, n) is not None]
            if moments not in ([], ["m", "v"]) or bool(moments) != (optimizer.t > 0):
                raise ValueError(f"Adam has t={optimizer.t} but moments {moments}")
        vectors = dict(optimizer.state_dict()[0])
        if self.rho_hat is not None:
            vectors["rho_hat"] = self.rho_hat
        for name, array in vectors.items():
            size = n_hidden if name == "rho_hat" else n_params
            if array.shape != (size,) or array.dtype != dtype:
                raise ValueError(
                    f"{name} must be {np.dtype(dtype).name} of shape ({size},), got "
                    f"{array.dtype} of shape {array.shape}"
                )
            if not np.isfinite(array).all():
                raise ValueError(f"{name} has NaN or infinite values")
        direction = self.decoder_direction
        if direction is not None:
            n_features = (n_params - n_hidden) // (2 * n_hidden + 1)
            if direction.shape != (n_features, n_hidden) or direction.dtype != dtype:
                raise ValueError(
                    f"decoder_direction must be {np.dtype(dtype).name} of shape "
                    f"({n_features}, {n_hidden}), got {direction.dtype} of shape "
                    f"{direction.shape}"
                )
            if not np.isfinite(direction).all():
                raise ValueError("decoder_direction has NaN or infinite values")
        since = self.since_fired
        if since is not None:
            if since.shape != (n_hidden,) or since.dtype != np.int64:
                raise ValueError(
                    f"since_fired must be int64 of shape ({n_hidden},), got "
                    f"{since.dtype} of shape {since.shape}"
                )
            if (since < 0).any():
                raise ValueError("since_fired has negative counts")
        if self.permutation is None:
            if self.position != 0:
                raise ValueError(f"position {self.position} without an epoch order")
            return
        order = self.permutation
        if (
            order.ndim != 1
            or order.dtype.kind not in "iu"
            or not np.array_equal(np.sort(order), np.arange(order.size))
        ):
            raise ValueError(
                f"the epoch order ({order.dtype} of shape {order.shape}) is not a "
                f"permutation of 0 to {order.size - 1}"
            )
        size = min(AUTO_BATCH_SIZE if batch_size == "auto" else batch_size, order.size)
        # At the last step of an epoch (position == steps) the order is still
        # there: a checkpoint saved then resumes by closing the epoch.
        if self.position > math.ceil(order.size / size):
            raise ValueError(
                f"position {self.position} is past the end of an epoch of "
                f"{order.size} samples in batches of {size}"
            )

    def dead(self, dead_after: int | None) -> np.ndarray | None:
        """The units that have gone ``dead_after`` samples or more without firing.

        None when ``dead_after`` is None (no auxiliary loss) or before the
        first step, when no unit is dead yet.
        """
        if dead_after is None or self.since_fired is None:
            return None
        return self.since_fired >= dead_after

    def fired(self, fired: np.ndarray, n_rows: int) -> None:
        """Count a step of ``n_rows`` samples in which the units ``fired`` fired."""
        if self.since_fired is None:
            self.since_fired = np.zeros(fired.shape, np.int64)
        self.since_fired += n_rows
        self.since_fired[fired] = 0

    def improved(self, loss: float, tol: float) -> bool:
        """Record an epoch's loss; whether it beat the best by a relative ``tol``."""
        better = loss < self.best_loss - tol * abs(self.best_loss)
        if np.isinf(self.best_loss):
            better = True
        self.no_improvement = 0 if better else self.no_improvement + 1
        self.best_loss = min(self.best_loss, loss)
        return better


def _copy(array):
    return None if array is None else np.array(array)


def _upgraded(numbers: dict) -> dict:
    """``numbers`` of a file written before the auxiliary loss, as written since.

    Its sums had no auxiliary term: it was 0 (inserted before the mean ρ̂).
    """
    sums = numbers["sums"]
    if isinstance(sums, list) and len(sums) == N_SUMS - 1:
        numbers = dict(numbers, sums=[*sums[:3], 0.0, sums[3]])
    return numbers


def _generator(state: dict) -> np.random.Generator:
    kind = getattr(np.random, str(state["bit_generator"]), None)
    # Only NumPy's bit generators: the name comes from a file.
    if not (isinstance(kind, type) and issubclass(kind, np.random.BitGenerator)):
        raise ValueError(f"unknown bit generator {state['bit_generator']!r}")
    rng = np.random.Generator(kind())
    rng.bit_generator.state = state
    return rng


def _check_numbers(state: MinibatchState) -> None:
    def count(value):
        return (
            isinstance(value, Integral) and not isinstance(value, bool) and value >= 0
        )

    def real(value, *, finite=True):
        ok = isinstance(value, Real) and not isinstance(value, bool)
        return ok and not math.isnan(value) and (math.isfinite(value) or not finite)

    checks = {
        "position": count(state.position),
        "no_improvement": count(state.no_improvement),
        "sums": len(state.sums) == N_SUMS and all(real(v) for v in state.sums),
        "best_loss": real(state.best_loss, finite=False),
        "start_loss": state.start_loss is None or real(state.start_loss),
        "fitting": isinstance(state.fitting, bool),
        "fingerprint": state.fingerprint is None or isinstance(state.fingerprint, str),
        "optimizer.t": not isinstance(state.optimizer, Adam)
        or count(state.optimizer.t),
    }
    for name, ok in checks.items():
        if not ok:
            value = attrgetter(name)(state)
            raise ValueError(f"{name} has an invalid value {value!r}")


@dataclass(eq=False)
class LbfgsRun:
    """An L-BFGS fit: the solver's state and what the run was fitting.

    Attributes
    ----------
    solver : LbfgsState
        Iterate, loss, gradient, correction pairs and counters.
    fitting : bool
        Whether a ``fit`` is under way (interrupted), so ``resume_fit`` goes on.
    fingerprint : str or None
        :func:`data_fingerprint` of the data of that fit.
    """

    solver: LbfgsState
    fitting: bool = False
    fingerprint: str | None = None

    def to_saved(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays and JSON-ready values that :meth:`from_saved` restores exactly."""
        arrays, numbers = self.solver.to_saved()
        saved = {"solver": "lbfgs", "state": numbers}
        saved |= {"fitting": self.fitting, "fingerprint": self.fingerprint}
        return {f"lbfgs.{name}": value for name, value in arrays.items()}, saved

    @classmethod
    def from_saved(cls, arrays: dict, numbers: dict) -> LbfgsRun:
        """Rebuild a run from :meth:`to_saved`.

        Raises
        ------
        ValueError
            If a field is missing, unknown, or of the wrong type or shape.
        """
        expected = {"solver", "state", "fitting", "fingerprint"}
        if not isinstance(numbers, dict) or set(numbers) != expected:
            got = sorted(numbers) if isinstance(numbers, dict) else type(numbers)
            raise ValueError(f"fields must be {sorted(expected)}, got {got}")
        unknown = sorted(k for k in arrays if not k.startswith("lbfgs."))
        if unknown:
            raise ValueError(f"unknown arrays {unknown}")
        if not isinstance(numbers["fitting"], bool):
            raise ValueError(f"fitting has an invalid value {numbers['fitting']!r}")
        fingerprint = numbers["fingerprint"]
        if fingerprint is not None and not isinstance(fingerprint, str):
            raise ValueError(f"fingerprint has an invalid value {fingerprint!r}")
        solver = LbfgsState.from_saved(
            {k.removeprefix("lbfgs."): v for k, v in arrays.items()}, numbers["state"]
        )
        return cls(solver, numbers["fitting"], fingerprint)

    def check(self, n_params: int, memory: int) -> None:
        """Raise ``ValueError`` unless this run can go on training such a model."""
        state = self.solver
        if state.theta.shape != (n_params,):
            raise ValueError(
                f"the L-BFGS iterate has shape {state.theta.shape}, the model "
                f"{n_params} parameters"
            )
        if len(state.s) > memory:
            raise ValueError(
                f"{len(state.s)} correction pairs, more than lbfgs_memory={memory}"
            )
