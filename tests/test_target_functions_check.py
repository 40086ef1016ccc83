"""Every function a network can use (tests/test_target_functions.py's cases), through `derive check`'s
report: every route agrees and the report is valid JSON. A file of its own so that pytest-xdist can run
it beside the other half (the check's sympy.diff route is most of the time of both)."""

import json

import pytest
from test_target_functions import CASES

import derive

pytestmark = pytest.mark.slow  # a system test: `-m "not slow"` leaves it out (docs/programmers.md)


@pytest.fixture(scope="module", params=sorted(CASES))
def model(request):
    return derive.Model(derive.parse(CASES[request.param], "t.toml"))


def test_the_check_report_prints_every_route(model):
    from derive.check import report

    result = report.build(model, [], 9)
    assert result.as_dict()["checks"]["passed"]
    json.loads(report.as_json(result))
