// An independent reader for the fabric library tests: decodes config blocks with the Fabric Node SDK
// (fabric-common's BlockDecoder, plus fabric-protos for raw bytes) and checks hashes and signatures with Node's
// own crypto and jsrsasign's ASN.1 encoder. Prints one JSON summary per block file.
//   node fabric_common_reader.js <dir containing node_modules/fabric-common> <block file>...
'use strict';
const path = require('path');
const fs = require('fs');
const crypto = require('crypto');
const req = require('module').createRequire(path.join(path.resolve(process.argv[2]), 'reader.js'));
const BlockDecoder = req('fabric-common/lib/BlockDecoder');
const protos = req('fabric-protos');
const { KJUR } = req('jsrsasign');

const HALF_ORDER = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551') >> 1n;

function lowS(der) {
  // SEQUENCE { INTEGER r, INTEGER s } with short lengths (P-256 signatures are < 128 bytes).
  const rLen = der[3];
  const sLen = der[5 + rLen];
  const s = BigInt('0x' + Buffer.from(der.subarray(6 + rLen, 6 + rLen + sLen)).toString('hex'));
  return s <= HALF_ORDER;
}

function verify(creatorBytes, data, signature) {
  const creator = protos.msp.SerializedIdentity.decode(creatorBytes);
  const key = crypto.createPublicKey(Buffer.from(creator.id_bytes).toString());
  const ok = crypto.verify('sha256', data, { key, dsaEncoding: 'der' }, Buffer.from(signature));
  return { msp: creator.mspid, ok, low_s: lowS(Buffer.from(signature)) };
}

function headerHash(header) {
  const seq = new KJUR.asn1.DERSequence({
    array: [
      new KJUR.asn1.DERInteger({ int: Number(header.number) }),
      new KJUR.asn1.DEROctetString({ hex: Buffer.from(header.previous_hash).toString('hex') }),
      new KJUR.asn1.DEROctetString({ hex: Buffer.from(header.data_hash).toString('hex') }),
    ],
  });
  const der = Buffer.from(seq.getEncodedHex(), 'hex');
  return { der, hash: crypto.createHash('sha256').update(der).digest('hex') };
}

function summarize(file) {
  const raw = fs.readFileSync(file);
  const decoded = BlockDecoder.decode(raw);
  const envelope = decoded.data.data[0];
  const config = envelope.payload.data.config;
  const groups = config.channel_group.groups;

  // The raw protobuf path, for bytes the SDK decoder does not keep.
  const block = protos.common.Block.decode(raw);
  const rawEnvelope = protos.common.Envelope.decode(block.data.data[0]);
  const rawPayload = protos.common.Payload.decode(rawEnvelope.payload);
  const configEnvelope = protos.common.ConfigEnvelope.decode(rawPayload.data);
  const consensus = protos.orderer.ConsensusType.decode(configEnvelope.config.channel_group.groups.Orderer.values.ConsensusType.value);
  const raft = protos.etcdraft.ConfigMetadata.decode(consensus.metadata);
  const dataHash = crypto.createHash('sha256').update(Buffer.concat(block.data.data.map((d) => Buffer.from(d)))).digest('hex');
  const header = headerHash(block.header);

  const summary = {
    number: Number(decoded.header.number),
    channel_id: envelope.payload.header.channel_header.channel_id,
    type: envelope.payload.header.channel_header.typeString,
    header_hash: header.hash,
    data_hash_ok: dataHash === Buffer.from(block.header.data_hash).toString('hex'),
    previous_hash: Buffer.from(block.header.previous_hash).toString('hex'),
    sequence: Number(config.sequence),
    application_orgs: Object.keys(groups.Application.groups).sort(),
    orderer_orgs: Object.keys(groups.Orderer.groups).sort(),
    consensus_type: groups.Orderer.values.ConsensusType.value.type,
    consenters: raft.consenters.map((c) => ({ host: c.host, port: c.port, client_tls_cert: Buffer.from(c.client_tls_cert).toString() })),
    batch_size: groups.Orderer.values.BatchSize.value,
    anchor_peers: Object.fromEntries(
      Object.entries(groups.Application.groups).map(([k, g]) => [k, g.values.AnchorPeers ? g.values.AnchorPeers.value.anchor_peers : []]),
    ),
    capabilities: [groups.Application, groups.Orderer, config.channel_group].map((g) => Object.keys(g.values.Capabilities.value.capabilities)),
    last_update: null,
    block_signatures: [],
    envelope_signature: null,
  };

  if (configEnvelope.last_update && configEnvelope.last_update.payload && configEnvelope.last_update.payload.length) {
    const sdkUpdate = envelope.payload.data.last_update.payload;
    const updatePayload = protos.common.Payload.decode(configEnvelope.last_update.payload);
    const updateEnvelope = protos.common.ConfigUpdateEnvelope.decode(updatePayload.data);
    const creator = protos.common.SignatureHeader.decode(updatePayload.header.signature_header).creator;
    summary.last_update = {
      type: sdkUpdate.header.channel_header.type,
      channel_id: sdkUpdate.data.config_update.channel_id,
      tx_id: sdkUpdate.header.channel_header.tx_id,
      signers: sdkUpdate.data.signatures.map((s) => s.signature_header.creator.mspid),
      submitter: verify(creator, configEnvelope.last_update.payload, configEnvelope.last_update.signature),
      signatures: updateEnvelope.signatures.map((s) => {
        const sigHeader = protos.common.SignatureHeader.decode(s.signature_header);
        const data = Buffer.concat([Buffer.from(s.signature_header), Buffer.from(updateEnvelope.config_update)]);
        return verify(sigHeader.creator, data, s.signature);
      }),
    };
    const metadata = protos.common.Metadata.decode(block.metadata.metadata[0]);
    summary.block_signatures = metadata.signatures.map((s) => {
      const sigHeader = protos.common.SignatureHeader.decode(s.signature_header);
      const data = Buffer.concat([Buffer.from(metadata.value), Buffer.from(s.signature_header), header.der]);
      return verify(sigHeader.creator, data, s.signature);
    });
    const envelopeCreator = protos.common.SignatureHeader.decode(rawPayload.header.signature_header).creator;
    summary.envelope_signature = verify(envelopeCreator, rawEnvelope.payload, rawEnvelope.signature);
    const lastConfig = protos.common.LastConfig.decode(protos.common.Metadata.decode(block.metadata.metadata[1]).value);
    summary.last_config = Number(lastConfig.index);
  }
  return summary;
}

console.log(JSON.stringify(process.argv.slice(3).map(summarize)));
