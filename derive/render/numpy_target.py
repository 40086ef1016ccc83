"""NumPy target (to come)."""


def render(network, version):
    raise NotImplementedError("numpy target")
