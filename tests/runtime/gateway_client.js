// A Fabric client nobody at OpenBCS wrote: Node's Fabric Gateway evaluates qscc GetChainInfo on a peer found in the
// connection profile that DownloadBlockchainSdkConfig hands out, as a user whose MSP DownloadBlockchainCert gave.
//   node gateway_client.js <sdk-config.yaml> <org name> <user msp dir> <channel>
// Prints {"height": N, "currentBlockHash": "<hex>"}.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const yaml = require('js-yaml');
const { connect, signers } = require('@hyperledger/fabric-gateway');
const { common } = require('@hyperledger/fabric-protos');

async function main() {
  const [profilePath, orgName, mspDir, channel] = process.argv.slice(2);
  const profile = yaml.load(fs.readFileSync(profilePath, 'utf8'));
  const org = profile.organizations[orgName];
  const peer = profile.peers[org.peers[0]];
  const address = peer.url.replace(/^grpcs:\/\//, '');
  const override = peer.grpcOptions['ssl-target-name-override'];
  const options = override && override !== address.split(':')[0] ? { 'grpc.ssl_target_name_override': override } : {};
  const client = new grpc.Client(address, grpc.credentials.createSsl(fs.readFileSync(peer.tlsCACerts.path)), options);
  const signcerts = path.join(mspDir, 'signcerts');
  const credentials = fs.readFileSync(path.join(signcerts, fs.readdirSync(signcerts)[0]));
  const key = crypto.createPrivateKey(fs.readFileSync(path.join(mspDir, 'keystore', 'priv_sk')));
  const gateway = connect({ client, identity: { mspId: org.mspid, credentials }, signer: signers.newPrivateKeySigner(key) });
  try {
    const bytes = await gateway.getNetwork(channel).getContract('qscc').evaluateTransaction('GetChainInfo', channel);
    const info = common.BlockchainInfo.deserializeBinary(bytes);
    const hash = Buffer.from(info.getCurrentblockhash_asU8()).toString('hex');
    console.log(JSON.stringify({ height: info.getHeight(), currentBlockHash: hash }));
  } finally {
    gateway.close();
    client.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
