// CRC32C (Castagnoli, reflected polynomial 0x82f63b78) and TensorFlow's masked form, for TFRecord framing.
//
// Slicing-by-8 (eight 256-entry tables, 8 bytes per step): a TFRecord data file's every byte goes through this on the
// loader's main thread, and the one-table byte loop (train/tensorboard.ts, fine for small event records) runs at ~100
// MB/s here, a few times slower. Written here rather than taken from npm: the well-kept packages are either native
// addons with SSE4.2 paths (fast-crc32c, @chainsafe/fast-crc32c: a build step for 40 lines of arithmetic) or pure-JS
// one-table loops (@aws-crypto/crc32c); the test checks this against RFC 3720's vectors and the Python `crc32c`
// package's values through the fixtures it framed.
const POLY = 0x82f63b78;

const TABLES = (() => {
  const t = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[0]![n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) t[k]![n] = (t[k - 1]![n]! >>> 8) ^ t[0]![t[k - 1]![n]! & 0xff]!;
  }
  return t;
})();
const [T0, T1, T2, T3, T4, T5, T6, T7] = TABLES as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];

/** CRC32C of `bytes` (`crc32c("123456789") = 0xe3069283`). */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  let i = 0;
  const n = bytes.length;
  const end8 = n - (n & 7);
  while (i < end8) {
    const lo = (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) ^ c;
    c =
      T7[lo & 0xff]! ^ T6[(lo >>> 8) & 0xff]! ^ T5[(lo >>> 16) & 0xff]! ^ T4[lo >>> 24]! ^
      T3[bytes[i + 4]!]! ^ T2[bytes[i + 5]!]! ^ T1[bytes[i + 6]!]! ^ T0[bytes[i + 7]!]!;
    i += 8;
  }
  for (; i < n; i++) c = T0[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TensorFlow's masked CRC of a TFRecord: rotate the CRC32C right by 15, add 0xa282ead8 (mod 2^32). */
export function maskedCrc32c(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}
