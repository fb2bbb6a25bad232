"""Pods' container statuses from the API (the metrics-server collection's polls): any shape is a row per
container or one line naming the pod and the field."""

from __future__ import annotations

from typing import Any

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.collect.status_changes import pod_statuses
from analyzer.errors import SourceError

AT = pd.Timestamp("2026-11-02T00:00:00Z")
ANY = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**12), st.text(max_size=200),
                st.lists(st.integers(), min_size=1, max_size=2))  # fmt: skip
TERMINATED = st.fixed_dictionaries({}, optional={"reason": ANY, "exitCode": ANY})
STATE = st.one_of(st.dictionaries(st.sampled_from(["running", "waiting", "terminated"]), ANY | TERMINATED, max_size=3),
                  st.sampled_from([None, [], ["terminated"], "terminated", 0]))  # fmt: skip
STATUS = ANY | st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=20) | ANY},
    optional={"ready": ANY, "restartCount": ANY, "state": STATE, "lastState": STATE},
)


def _pod(statuses: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "shop", "name": "cart-1"}, "status": {"containerStatuses": statuses}}


@settings(max_examples=300, deadline=None)
@given(status=STATUS)
def test_a_container_status_of_any_shape_is_a_row_or_one_line(status: Any) -> None:
    try:
        rows = pod_statuses([_pod([status])], AT)
    except SourceError as exc:
        message = str(exc)
        assert message.startswith("Pod 'shop'/'cart-1': status.containerStatuses[0]") and "\n" not in message
        return
    ((at, ns, pod, name, ready, restarts, state, reason, code, why),) = rows
    assert (at, ns, pod, name) == (AT, "shop", "cart-1", status["name"])
    assert isinstance(ready, bool) and isinstance(restarts, int) and restarts >= 0 and code >= -1
    assert state in ("", "running", "waiting", "terminated")
    assert isinstance(reason, str) and isinstance(why, str) and len(reason) < 120 and len(why) < 120
    assert why == "" or state == "terminated"  # a reason belongs to a terminated container


def test_the_current_and_the_last_termination_are_read_apart() -> None:
    status = {"name": "istio-proxy", "ready": False, "restartCount": 2,
              "state": {"terminated": {"reason": "Error", "exitCode": 137}},
              "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}  # fmt: skip
    ((*_, state, reason, code, why),) = pod_statuses([_pod([status])], AT)
    assert (state, reason, code, why) == ("terminated", "OOMKilled", 137, "Error")
    status["state"] = {"running": {"startedAt": "2026-11-02T00:00:00Z"}}
    ((*_, state, reason, code, why),) = pod_statuses([_pod([status])], AT)
    assert (state, reason, code, why) == ("running", "OOMKilled", 137, "")
