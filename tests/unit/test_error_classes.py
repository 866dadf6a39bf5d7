"""One classifier for API errors: an HTTP answer and a watch ERROR event with the same status are
the same class, and "temporary or permanent" follows from the class alone.

Covers: for each status kube-apiserver answers, ``error_from_response`` and ``error_from_status``
give the same class and ``is_temporary`` the same verdict (429, 5xx and 410 temporary; 401, 403,
404, 409, 422 permanent); a guarded JSON Patch's 422 is a Conflict; a watch 5xx names the server.
"""

from __future__ import annotations

import json

import pytest
import requests

from failsync.errors import Conflict, Gone, ServerError
from failsync.kube.errors import error_class, error_from_response, error_from_status, is_temporary
from failsync.kube.resources import TRAFFIC_SPLITS

SPLITS = TRAFFIC_SPLITS["split.smi-spec.io/v1alpha2"]
SERVER = "https://api.example:6443"
TEMPORARY = {410, 429, 500, 503, 504}


def _answer(code: int) -> requests.Response:
    response = requests.Response()
    response.status_code = code
    response.reason = "Reason"
    response._content = json.dumps({"kind": "Status", "code": code, "reason": "Reason", "message": "m"}).encode()
    return response


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 410, 415, 422, 429, 500, 503, 504])
def test_an_http_answer_and_a_watch_error_event_are_classified_alike(code: int) -> None:
    answered = error_from_response(_answer(code), verb="list", resource=SPLITS, namespace="ns", name=None,
                                   server=SERVER)
    streamed = error_from_status({"kind": "Status", "code": code, "reason": "Reason", "message": "m"},
                                 resource=SPLITS, server=SERVER)
    assert type(answered) is type(streamed) is error_class(code)
    assert is_temporary(answered) == is_temporary(streamed) == (code in TEMPORARY)
    assert answered.status == streamed.status == code


def test_a_guarded_patch_422_is_a_conflict_and_watch_specifics_are_kept() -> None:
    guarded = error_from_response(_answer(422), verb="patch", resource=SPLITS, namespace="ns", name="x",
                                  server=SERVER, guarded=True)
    assert isinstance(guarded, Conflict) and not is_temporary(guarded)
    expired = error_from_status({"code": 410}, resource=SPLITS, server=SERVER)
    assert isinstance(expired, Gone) and expired.reason == "Expired"
    failed = error_from_status({"code": 500, "reason": "InternalError", "message": "etcd"}, resource=SPLITS,
                               server=SERVER)
    assert isinstance(failed, ServerError) and SERVER in str(failed) and "etcd" in str(failed)
