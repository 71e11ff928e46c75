/**
 * DSSE, the envelope in-toto attestations and Sigstore bundles carry a signed statement in
 * (https://github.com/secure-systems-lab/dsse/blob/master/envelope.md, protocol.md): the signature covers
 * PAE(payloadType, payload) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, never the bare payload, so a
 * payload cannot be replayed as another type. ECDSA P-256 with SHA-256, the signature ASN.1 DER, as cosign writes.
 */
import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { PithError } from '../errors.ts';

export interface DsseSignature {
  keyid: string;
  /** base64 of the DER ECDSA signature. */
  sig: string;
}

export interface DsseEnvelope {
  payloadType: string;
  /** base64 of the payload bytes. */
  payload: string;
  signatures: DsseSignature[];
}

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** Pre-authentication encoding: the bytes a DSSE signature covers. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.byteLength} `), type, Buffer.from(` ${payload.byteLength} `), payload]);
}

/** An ECDSA signature (DER) over `data` with SHA-256. */
export function signBytes(privateKey: KeyObject, data: Uint8Array): Buffer {
  return sign('sha256', data, { key: privateKey, dsaEncoding: 'der' });
}

export function verifyBytes(publicKey: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify('sha256', data, { key: publicKey, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}

/** The SHA-256 of the key's SPKI DER, hex: a stable name for a public key in reports and bundles' hints. */
export function keyFingerprint(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

export function signEnvelope(payloadType: string, payload: Uint8Array, privateKey: KeyObject, keyid = ''): DsseEnvelope {
  return {
    payloadType,
    payload: Buffer.from(payload).toString('base64'),
    signatures: [{ keyid, sig: signBytes(privateKey, pae(payloadType, payload)).toString('base64') }],
  };
}

/** The payload of `envelope` once one of its signatures verifies with `publicKey`; SIGNATURE_INVALID otherwise. */
export function openEnvelope(envelope: DsseEnvelope, publicKey: KeyObject, where: string): Uint8Array {
  if (typeof envelope?.payloadType !== 'string' || typeof envelope.payload !== 'string' || !Array.isArray(envelope.signatures)) {
    throw new PithError('SIGNATURE_INVALID', `expected ${where} to be a DSSE envelope (payloadType, payload, signatures), found another shape`);
  }
  const payload = Buffer.from(envelope.payload, 'base64');
  const signed = pae(envelope.payloadType, payload);
  if (!envelope.signatures.some((s) => typeof s?.sig === 'string' && verifyBytes(publicKey, signed, Buffer.from(s.sig, 'base64')))) {
    throw new PithError('SIGNATURE_INVALID', `none of the ${envelope.signatures.length} signature(s) of ${where} verifies with the given key`);
  }
  return payload;
}
