import collections, inspect
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from tests.channels import test_state_machine as sm
from tests.channels.helpers import Bcs, issue_token

STATS = collections.Counter()
orig = sm.ChannelMachine.expect
def expect(self, response, refusal):
    STATS[(inspect.stack()[1].function, refusal)] += 1
    return orig(self, response, refusal)

def test_stats(client, db, make_account, monkeypatch):
    monkeypatch.setattr(sm.ChannelMachine, "expect", expect)
    account = make_account()
    sm.ChannelMachine.api = Bcs(client, account, issue_token(client, account))
    sm.ChannelMachine.db = db
    run_state_machine_as_test(sm.ChannelMachine, settings=settings(max_examples=120, stateful_step_count=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)))
    for k, v in sorted(STATS.items(), key=str): print(k, v)
