"""What the recurrent kinds (`rnn`, `lstm`) read alike from their ``[[layer]]`` tables: the sequence
the layer below gives and the hidden size, and the two weight tensors, PyTorch's ``weight_ih_l0`` and
``weight_hh_l0`` (given together or not at all)."""

from __future__ import annotations

from derive.model.layers.kind import tensor

TENSORS = ("weight_ih", "weight_hh")


def read_sequence(name: str, table: dict, key: str, shape_in: tuple[int, ...], check) -> tuple[int, int]:
    """A recurrent layer's (steps, hidden): what the layer below gives, checked (a sequence,
    and ``input_size`` where given), and its ``hidden_size``."""
    if len(shape_in) != 2:
        given = f"{shape_in[0]} features" if len(shape_in) == 1 else f"a shape {list(shape_in)}"
        check.fail(f"{key}: an {name} layer reads a sequence [steps, features], but the layer below gives "
                   f"{given}: put it first (input = [steps, features]) or right after another recurrent layer")
    steps, features = shape_in
    if "input_size" in table:
        given_size = check.integer(table["input_size"], f"{key}.input_size", 1, check.max_width)
        if given_size != features:
            check.fail(f"{key}.input_size = {given_size}, but the layer below gives {features} features per step")
    if "hidden_size" not in table:
        check.fail(f"{key}: missing key 'hidden_size' (its number of hidden units per step)")
    return steps, check.integer(table["hidden_size"], f"{key}.hidden_size", 1, check.max_width)


def read_tensors(table: dict, key: str, shapes, rows: str, check) -> tuple | None:
    """W_ih and W_hh of ``shapes`` (their rows named ``rows``), both or neither (None: drawn from the seed)."""
    given = [k for k in TENSORS if k in table]
    if given and len(given) != len(TENSORS):
        missing = next(k for k in TENSORS if k not in table)
        check.fail(f"{key}: {given[0]} is given but not {missing}: give both, or neither (drawn from the seed)")
    if not given:
        return None
    return tuple(tensor(table[k], f"{key}.{k}", s, (rows, what), check)
                 for k, s, what in zip(TENSORS, shapes, ("input_size", "hidden_size"), strict=True))
