import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { chooseXzDecoder, unxz, unxzStream, xzDictionarySize, type XzDecoder } from '../../src/debian/xz.ts';
import { missingTools } from '../fixtures/apt.ts';

const skip = missingTools({ xz: 'xz-utils' });

/** The real xz tool makes every stream these tests read. */
function xz(data: Uint8Array, ...args: string[]): Uint8Array {
  const r = spawnSync('xz', ['-c', ...args], { input: data, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`xz ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

describe('choosing the decoder', () => {
  it('uses the host xz when it is on PATH, except for small streams, and the built-in wasm decoder otherwise; PITH_XZ overrides', { skip }, () => {
    const PATH = process.env.PATH;
    assert.equal(chooseXzDecoder(1 << 20, { PATH }), 'host');
    assert.equal(chooseXzDecoder(4096, { PATH }), 'wasm');
    assert.equal(chooseXzDecoder(1 << 20, { PATH, PITH_XZ: 'wasm' }), 'wasm');
    assert.equal(chooseXzDecoder(4096, { PATH, PITH_XZ: 'host' }), 'host');
    assert.equal(chooseXzDecoder(1 << 20, { PATH: '/nonexistent' }), 'wasm');
  });
});

for (const decoder of ['host', 'wasm'] as XzDecoder[]) {
  describe(`the ${decoder} xz decoder`, { skip }, () => {
    const text = new TextEncoder().encode('Package: libc6\nVersion: 2.36-9\n\n'.repeat(40_000));

    it('gives back exactly what xz compressed, whole or chunk by chunk', async () => {
      for (const input of [new Uint8Array(), text, randomBytes(3_000_000)]) {
        const packed = xz(input, '-6', '--check=crc64');
        assert.ok(Buffer.from(await unxz(packed, { decoder, maxOutput: input.length })).equals(input));
        let size = 0;
        for await (const chunk of unxzStream(packed, { decoder })) size += chunk.byteLength;
        assert.equal(size, input.length);
      }
    });

    it('stops a decompression bomb at maxOutput', async () => {
      const bomb = xz(new Uint8Array(64 << 20), '-9');
      assert.ok(bomb.length < 100_000);
      await assert.rejects(unxz(bomb, { decoder, maxOutput: 1 << 20 }), /expected at most 1048576 bytes/);
    });

    it('refuses data that is not xz, corrupt or cut short, saying so', async () => {
      await assert.rejects(unxz(new TextEncoder().encode('not xz at all'), { decoder, maxOutput: 1 << 20 }), /^Error: xz: .*(not xz data|format not recognized)/i);
      const packed = Buffer.from(xz(text));
      await assert.rejects(unxz(packed.subarray(0, packed.length >> 1), { decoder, maxOutput: 1 << 24 }), /^Error: xz: .*(truncated|unexpected end)/i);
      const flipped = Buffer.from(packed);
      flipped[flipped.length >> 1] ^= 0xff;
      await assert.rejects(unxz(flipped, { decoder, maxOutput: 1 << 24 }), /^Error: xz: .*corrupt/i);
    });

    it('ends the decoder when the reader stops early, and stays usable after many such stops', async () => {
      const packed = xz(randomBytes(2_000_000));
      for (let i = 0; i < availableParallelism() + 3; i++) {
        for await (const chunk of unxzStream(packed, { decoder })) {
          assert.ok(chunk.byteLength > 0);
          break;
        }
      }
      assert.equal((await unxz(packed, { decoder, maxOutput: 2_000_000 })).byteLength, 2_000_000);
    });

    it('decodes several streams at once', async () => {
      const inputs = Array.from({ length: 6 }, (_, i) => randomBytes(200_000 + i));
      const outputs = await Promise.all(inputs.map((input) => unxz(xz(input), { decoder, maxOutput: 300_000 })));
      outputs.forEach((out, i) => assert.ok(Buffer.from(out).equals(inputs[i]!)));
    });

    it(decoder === 'host' ? 'checks a SHA-256 integrity check, as xz-utils and dpkg do' : 'refuses a SHA-256 integrity check, which xz-embedded cannot verify', async () => {
      const packed = xz(text, '--check=sha256');
      if (decoder === 'host') assert.equal((await unxz(packed, { decoder, maxOutput: text.length })).byteLength, text.length);
      else await assert.rejects(unxz(packed, { decoder, maxOutput: text.length }), /SHA-256/);
    });
  });
}

describe('xzDictionarySize', { skip }, () => {
  it('reads the dictionary each xz preset declares, so a large one never grows the in-process decoder', () => {
    const input = Buffer.from('pith '.repeat(5000));
    for (const [preset, dictionary] of [['-0', 256 * 1024], ['-6', 8 * 1024 * 1024], ['-9', 64 * 1024 * 1024]] as const) {
      const packed = xz(input, preset);
      assert.equal(xzDictionarySize(packed), dictionary, `xz ${preset}`);
    }
    assert.equal(xzDictionarySize(Buffer.from('not xz at all, not xz at all')), undefined);
  });

  it('still decodes a small stream that declares a 64 MiB dictionary', async () => {
    const input = randomBytes(1000);
    const packed = xz(input, '-9');
    assert.ok(packed.byteLength < 64 * 1024 && chooseXzDecoder(packed.byteLength) === 'wasm', 'small enough for the in-process decoder by size');
    assert.ok(Buffer.from(await unxz(packed, { maxOutput: 10_000 })).equals(input));
  });
});
