/** Packs unsigned integers of a fixed bit width into bytes, least significant bit first. */
export function packBits(values: ArrayLike<number>, bits: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((values.length * bits) / 8));
  if (bits === 0) return out;
  let bitPos = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    for (let b = 0; b < bits; b++, bitPos++) if ((v >>> b) & 1) out[bitPos >>> 3] |= 1 << (bitPos & 7);
  }
  return out;
}

/** Inverse of {@link packBits}. */
export function unpackBits(bytes: Uint8Array, count: number, bits: number): Uint32Array {
  const out = new Uint32Array(count);
  if (bits === 0) return out;
  let bitPos = 0;
  for (let i = 0; i < count; i++) {
    let v = 0;
    for (let b = 0; b < bits; b++, bitPos++) if ((bytes[bitPos >>> 3] >>> (bitPos & 7)) & 1) v |= 1 << b;
    out[i] = v >>> 0;
  }
  return out;
}

/** Encodes the positions of the ones in `mask` as LEB128 varints of the gaps between them. */
export function encodeGaps(mask: Uint8Array): Uint8Array {
  const bytes: number[] = [];
  let previous = -1;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    let gap = i - previous - 1;
    previous = i;
    do {
      const low = gap & 0x7f;
      gap >>>= 7;
      bytes.push(gap ? low | 0x80 : low);
    } while (gap);
  }
  return Uint8Array.from(bytes);
}

/** Inverse of {@link encodeGaps}; `length` is the mask length, `kept` the number of ones. */
export function decodeGaps(bytes: Uint8Array, length: number, kept: number): Uint8Array {
  const mask = new Uint8Array(length);
  let pos = 0;
  let index = -1;
  for (let k = 0; k < kept; k++) {
    let gap = 0;
    let shift = 0;
    let byte: number;
    do {
      if (pos >= bytes.length) throw new RangeError('sparse index stream ends early');
      byte = bytes[pos++];
      gap |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    index += gap + 1;
    if (index >= length) throw new RangeError('sparse index out of range');
    mask[index] = 1;
  }
  return mask;
}
