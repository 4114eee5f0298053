"""Every RPC of every service, fed messages built from its request descriptor: whatever the
fields hold, the answer is a status a client can act on, never UNKNOWN or INTERNAL."""
from __future__ import annotations

import pytest
from google.protobuf import message, text_format
from hypothesis import given

from tests.fuzz.caller import Caller
from tests.fuzz.report import FuzzReport
from tests.fuzz.rpcs import Rpc, all_rpcs
from tests.fuzz.sizes import CALL_TIMEOUT_S, FuzzSize, hypothesis_settings
from tests.fuzz.strategies import MessageStrategies
from tests.fuzz.verdict import fail_on_surveyed, judge

RPCS = all_rpcs()
SIZE = FuzzSize.from_env(len(RPCS))


def request_text(request: message.Message) -> str:
    return text_format.MessageToString(request, as_utf8=True)


@pytest.mark.timeout(SIZE.structured * (CALL_TIMEOUT_S + 10) + 120)
@pytest.mark.parametrize("rpc", RPCS, ids=[r.key for r in RPCS])
def test_built_requests_get_an_actionable_status(rpc: Rpc, messages: MessageStrategies,
                                                 caller: Caller, report: FuzzReport) -> None:
    @hypothesis_settings(SIZE.structured)
    @given(request=messages.of(rpc.method.input_type))
    def case(request: message.Message) -> None:
        payload = request.SerializeToString()
        judge(report, rpc, "built", caller.call(rpc, payload), payload,
              lambda: request_text(request))

    case()
    fail_on_surveyed(report, rpc, "built")
