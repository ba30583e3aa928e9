import json
from tests.consortium.helpers import *  # noqa


def test_scratch(client, make_account, db):
    c = setup_consortium(client, make_account)
    print(json.dumps(c.invitee.notifications(), indent=1))
    print(json.dumps(c.inviter.members(), indent=1))
    op = c.join()
    print(op)
    print(json.dumps(c.invitee.notifications(), indent=1))
    print(json.dumps(c.inviter.members(), indent=1))
    print(json.dumps(c.invitee.members(), indent=1))
    print(json.dumps(c.inviter.channels(c.inviter_bcs_id), indent=1))
    print(json.dumps(c.invitee.record(op), indent=1))
    q = c.quit()
    print(json.dumps(c.invitee.record(q), indent=1))
    print(json.dumps(c.inviter.history(c.inviter_bcs_id), indent=1))
    print(invitation_row(db))
    print(c.invitee.quit(c.quit_body()).json())
    print(c.invitee.call("POST", "/members/quit", c.quit_body()).json())
