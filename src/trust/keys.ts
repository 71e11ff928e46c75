/**
 * Signing keys. The kind of a key file picks the signature format, as the issue's interface says:
 * - an ECDSA P-256 private key (PKCS#8 PEM, encrypted or not; SEC1 `EC PRIVATE KEY` as cosign and openssl write it)
 *   signs in Sigstore's formats (cosign's simple signing, Sigstore bundles, DSSE attestations);
 * - an armored OpenPGP secret key signs in containers/image's "simple signing" format, which podman, skopeo and
 *   CRI-O verify with a `signedBy` policy.
 * Public keys are read the same way: SPKI PEM → ECDSA; an OpenPGP public key, armored or binary (`gpg --export`).
 * A passphrase comes from `PITH_KEY_PASSWORD`, as cosign takes `COSIGN_PASSWORD`.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../cache/store.ts';
import * as openpgp from 'openpgp';
import { PithError } from '../errors.ts';

export type SigningKey =
  | { kind: 'ecdsa'; privateKey: KeyObject; publicKey: KeyObject; file: string }
  | { kind: 'openpgp'; privateKey: openpgp.PrivateKey; file: string };

export type VerificationKey =
  | { kind: 'ecdsa'; publicKey: KeyObject; file: string }
  | { kind: 'openpgp'; publicKeys: openpgp.PublicKey[]; file: string };

export interface KeyPair {
  /** PKCS#8 PEM, encrypted (AES-256-CBC, PBKDF2) when a passphrase was given. */
  privateKeyPem: string;
  /** SPKI PEM. */
  publicKeyPem: string;
}

/** A new ECDSA P-256 key pair, as `pith keygen` writes it. */
export function generateKeyPair(passphrase?: string): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: passphrase ? { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase } : { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/**
 * `pith keygen PREFIX`: writes PREFIX.key (mode 0600) and PREFIX.pub, never over existing files — a signing key
 * overwritten by mistake cannot be got back, and the images it signed would no longer verify with a key anyone has.
 */
export async function writeKeyPair(prefix: string, passphrase: string | undefined = process.env.PITH_KEY_PASSWORD): Promise<{ privateKeyFile: string; publicKeyFile: string; encrypted: boolean }> {
  const privateKeyFile = `${prefix}.key`;
  const publicKeyFile = `${prefix}.pub`;
  for (const file of [privateKeyFile, publicKeyFile]) {
    if (await access(file).then(() => true, () => false)) {
      throw new PithError('KEY_EXISTS', `expected no file at ${file}, found one: pith keygen never overwrites a key (choose another prefix or remove it)`);
    }
  }
  const pair = generateKeyPair(passphrase || undefined);
  await writeFileAtomic(privateKeyFile, pair.privateKeyPem, 0o600);
  await writeFileAtomic(publicKeyFile, pair.publicKeyPem);
  return { privateKeyFile, publicKeyFile, encrypted: Boolean(passphrase) };
}

const PGP_PRIVATE = '-----BEGIN PGP PRIVATE KEY BLOCK-----';
const PGP_PUBLIC = '-----BEGIN PGP PUBLIC KEY BLOCK-----';

/** The signing key in `file`; an encrypted one is opened with `passphrase` (default `PITH_KEY_PASSWORD`). */
export async function loadSigningKey(file: string, passphrase: string | undefined = process.env.PITH_KEY_PASSWORD): Promise<SigningKey> {
  const bytes = await readKeyFile(file);
  const text = bytes.toString('utf8');
  if (text.includes(PGP_PRIVATE)) {
    let key: openpgp.PrivateKey;
    try {
      key = await openpgp.readPrivateKey({ armoredKey: text });
    } catch (e) {
      throw new PithError('KEY_INVALID', `expected ${file} to hold an OpenPGP secret key, found one openpgp cannot read: ${(e as Error).message}`);
    }
    if (!key.isDecrypted()) {
      if (!passphrase) throw new PithError('KEY_PASSWORD', `the OpenPGP key in ${file} is protected by a passphrase: set PITH_KEY_PASSWORD`);
      try {
        key = await openpgp.decryptKey({ privateKey: key, passphrase });
      } catch {
        throw new PithError('KEY_PASSWORD', `PITH_KEY_PASSWORD does not open the OpenPGP key in ${file}`);
      }
    }
    return { kind: 'openpgp', privateKey: key, file };
  }
  if (!/-----BEGIN (ENCRYPTED |EC )?PRIVATE KEY-----/.test(text)) {
    throw new PithError('KEY_INVALID', `expected ${file} to hold a private key (PKCS#8 or SEC1 PEM for ECDSA P-256, or an armored OpenPGP secret key), found ${describe(text)}`);
  }
  const encrypted = text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || /Proc-Type: 4,ENCRYPTED/.test(text);
  if (encrypted && !passphrase) throw new PithError('KEY_PASSWORD', `the private key in ${file} is encrypted: set PITH_KEY_PASSWORD`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: text, format: 'pem', ...(encrypted ? { passphrase } : {}) });
  } catch (e) {
    if (encrypted) throw new PithError('KEY_PASSWORD', `PITH_KEY_PASSWORD does not open the private key in ${file}`);
    throw new PithError('KEY_INVALID', `expected ${file} to hold a PEM private key, found one Node cannot read: ${(e as Error).message}`);
  }
  checkP256(privateKey, file);
  return { kind: 'ecdsa', privateKey, publicKey: createPublicKey(privateKey), file };
}

/** The verification key in `file`: SPKI PEM (ECDSA P-256), or OpenPGP public keys, armored or binary. */
export async function loadVerificationKey(file: string): Promise<VerificationKey> {
  const bytes = await readKeyFile(file);
  const text = bytes.toString('latin1');
  if (text.includes('-----BEGIN PUBLIC KEY-----')) {
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: text, format: 'pem' });
    } catch (e) {
      throw new PithError('KEY_INVALID', `expected ${file} to hold an SPKI PEM public key, found one Node cannot read: ${(e as Error).message}`);
    }
    checkP256(publicKey, file);
    return { kind: 'ecdsa', publicKey, file };
  }
  try {
    const publicKeys = text.includes(PGP_PUBLIC)
      ? await openpgp.readKeys({ armoredKeys: text })
      : await openpgp.readKeys({ binaryKeys: new Uint8Array(bytes) });
    return { kind: 'openpgp', publicKeys: publicKeys.map((k) => k.toPublic()), file };
  } catch {
    throw new PithError('KEY_INVALID', `expected ${file} to hold a public key (SPKI PEM for ECDSA P-256, or OpenPGP keys as gpg --export writes them), found ${describe(text)}`);
  }
}

/** The public half of a signing key, for verification in the same process (tests, sign-then-check). */
export function verificationKeyOf(key: SigningKey): VerificationKey {
  return key.kind === 'ecdsa'
    ? { kind: 'ecdsa', publicKey: key.publicKey, file: key.file }
    : { kind: 'openpgp', publicKeys: [key.privateKey.toPublic()], file: key.file };
}

async function readKeyFile(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    throw new PithError('KEY_INVALID', `expected a key file at ${file}, found none (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

function checkP256(key: KeyObject, file: string): void {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    throw new PithError('KEY_INVALID', `expected an ECDSA P-256 key in ${file}, found ${key.asymmetricKeyType ?? 'an unknown kind'}${curve ? ` on ${curve}` : ''}`);
  }
}

function describe(text: string): string {
  const header = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text);
  return header ? `a PEM block "${header[1]}"` : `${text.length} bytes that are neither PEM nor OpenPGP`;
}
