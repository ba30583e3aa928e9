def test_fixtures_work(client, make_account, token_for, sdk_client):
    from huaweicloudsdkbcs.v2 import ListOpRecordRequest
    a = make_account()
    t = token_for(a)
    r = client.get(f"/v2/{a.project_id}/operation/record", headers={"X-Auth-Token": t})
    assert r.status_code == 200
    assert r.json() == {"count": 0, "operation_records": []}
    resp = sdk_client(a).list_op_record(ListOpRecordRequest())
    assert resp.count == 0
