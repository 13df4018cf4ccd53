from django.core.checks import run_checks
from django.test import override_settings

from studio.checks import check_task_queue_timeouts


def test_the_configured_queue_passes_the_check():
    assert [e for e in run_checks() if e.id and e.id.startswith("studio.")] == []


@override_settings(Q_CLUSTER={"workers": 2, "timeout": 180, "retry": 180})
def test_a_timeout_not_below_retry_refuses_to_start():
    errors = check_task_queue_timeouts()
    assert [e.id for e in errors] == ["studio.E002"]
    assert "runs twice" in errors[0].msg


@override_settings(Q_CLUSTER={"timeout": 60, "retry": 90})
def test_the_number_of_workers_must_be_explicit():
    assert "studio.E003" in [e.id for e in check_task_queue_timeouts()]
