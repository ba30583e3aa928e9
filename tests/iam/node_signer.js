// Signs one request with the Huawei Cloud Node.js core SDK (@huaweicloud/huaweicloud-sdk-core), the way its
// BaseCredentials.processAuthRequest does: X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD unless the Content-Type is JSON,
// then AKSKSigner.sign. Usage: node node_signer.js SDK_DIR '{"ak":..,"sk":..,"method":..,"endpoint":..,"path":..,
// "headers":{..},"body":".."}'; prints the headers to send, as JSON.
const path = require("path");
const [sdkDir, spec] = process.argv.slice(2);
const core = path.join(sdkDir, "node_modules", "@huaweicloud", "huaweicloud-sdk-core");
const { AKSKSigner } = require(path.join(core, "auth", "AKSKSigner"));
const { isJsonContentType } = require(path.join(core, "auth", "ICredential"));
const request = JSON.parse(spec);
const headers = { ...request.headers };
if (!isJsonContentType(headers)) {
  headers["X-Sdk-Content-Sha256"] = "UNSIGNED-PAYLOAD";
}
const credential = { getAk: () => request.ak, getSk: () => request.sk };
const signed = AKSKSigner.sign(
  {
    method: request.method,
    endpoint: request.endpoint + request.path,
    url: request.path,
    headers,
    queryParams: {},
    data: request.body ? JSON.parse(request.body) : undefined,
  },
  credential,
);
process.stdout.write(JSON.stringify(signed));
