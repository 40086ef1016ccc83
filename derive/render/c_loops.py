"""Loop form of the C target (see derive.render.c)."""


def run_body(network):
    raise NotImplementedError("loop form")
