import json
from tests.blockchains.helpers import *

def test_scratch(client, tenant):
    bid = create_instance(client, tenant.headers, tenant.project_id)
    print(json.dumps(detail(client, tenant.headers, tenant.project_id, bid), indent=1))
    print(json.dumps(status(client, tenant.headers, tenant.project_id, bid), indent=1))
    print(json.dumps(nodes(client, tenant.headers, tenant.project_id, bid), indent=1))
    print(json.dumps(op_records(client, tenant.headers, tenant.project_id), indent=1)[:3000])
    print(client.get(f"{tenant.base}/blockchains/{bid}/channels", headers=tenant.headers).json())
