import { createHash } from 'node:crypto';

// The first line of each key id in a key file, and a digest of that row's values, for telling a repeated
// row (same values: stored once) from a clash (other values: a bad row) without holding the rows. A key
// id is a GUID, kept as its 16 bytes: no two ids share an entry. The values are kept as 8 bytes of their
// SHA-256. One entry is 7 numbers in a typed array (28 bytes, 56 with the table's free slots), where a
// row held as objects took about a kilobyte: a file of 100,000 keys needs a few megabytes here.

const WORDS = 7;
const ID_WORDS = 4;
/** The table grows (doubles) beyond this share of used slots. */
const MAX_LOAD = 0.75;

export interface FirstRow {
  line: number;
  /** The earlier row had the same values. */
  same: boolean;
}

const idWords = (id: string): number[] => {
  const hex = id.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error('a key id in the index must be a normalised GUID');
  return [0, 8, 16, 24].map((at) => parseInt(hex.slice(at, at + 8), 16));
};

const valueWords = (values: string): number[] => {
  const digest = createHash('sha256').update(values).digest();
  return [digest.readUInt32LE(0), digest.readUInt32LE(4)];
};

export class KeyIdIndex {
  private slots = new Uint32Array(WORDS * 1024);
  private used = 0;

  get size(): number {
    return this.used;
  }

  /** Bytes the index holds now. */
  get bytes(): number {
    return this.slots.byteLength;
  }

  private capacity(): number {
    return this.slots.length / WORDS;
  }

  /** The slot of `words` (an id): where it is, or the free slot where it would go. Line 0 marks a free slot. */
  private slotOf(words: number[], slots = this.slots): number {
    const mask = slots.length / WORDS - 1;
    // GUIDs are random, but a file's ids are not ours to trust: their words are mixed before use.
    let slot = (Math.imul(words[0] ^ words[3], 0x9e3779b1) ^ Math.imul(words[1] ^ words[2], 0x85ebca77)) >>> 0;
    for (;;) {
      slot &= mask;
      const at = slot * WORDS;
      if (slots[at + 6] === 0) return slot;
      if (slots[at] === words[0] && slots[at + 1] === words[1] && slots[at + 2] === words[2] && slots[at + 3] === words[3]) return slot;
      slot++;
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Uint32Array(old.length * 2);
    for (let at = 0; at < old.length; at += WORDS) {
      if (old[at + 6] === 0) continue;
      const slot = this.slotOf(Array.from(old.subarray(at, at + ID_WORDS)));
      this.slots.set(old.subarray(at, at + WORDS), slot * WORDS);
    }
  }

  /**
   * Records `id` (a normalised GUID) as on `line` (≥ 1) with `values` (the row's other cells, as one
   * string), unless it is there already: then the earlier row's line, and whether its values were the same.
   */
  add(id: string, line: number, values: string): FirstRow | undefined {
    const words = idWords(id);
    const digest = valueWords(values);
    const at = this.slotOf(words) * WORDS;
    if (this.slots[at + 6] !== 0) {
      return { line: this.slots[at + 6], same: this.slots[at + 4] === digest[0] && this.slots[at + 5] === digest[1] };
    }
    this.slots.set([...words, ...digest, line], at);
    if (++this.used > this.capacity() * MAX_LOAD) this.grow();
    return undefined;
  }

  /** The line of the first row of `id`, or undefined if no row had it. */
  firstLine(id: string): number | undefined {
    const at = this.slotOf(idWords(id)) * WORDS;
    return this.slots[at + 6] === 0 ? undefined : this.slots[at + 6];
  }
}
