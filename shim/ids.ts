/**
 * Identifiers: node ids, transaction ids and version ids.
 *
 * A version id is `<12 hex digits of physical ms><6 hex digits of logical counter>.<txid>`.
 * Both clock fields are fixed-width lowercase hex, so plain string comparison of two version
 * ids is their order by hybrid-logical-clock timestamp, with the txid breaking ties. The
 * timestamp is taken at commit time (protocol.md §2: the original took it at start time).
 */
import { randomBytes, randomFillSync } from 'node:crypto';

const NODE_ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const NODE_ID_LENGTH = 10;
const MS_HEX_DIGITS = 12;
const LOGICAL_HEX_DIGITS = 6;
const MAX_LOGICAL = 16 ** LOGICAL_HEX_DIGITS - 1;

/**
 * `<node id>-<begin ms base36>-<sequence base36>-<32 hex random>`: unique, names its owner and
 * when it began (so its commit record can be found in storage by time), safe in a URL path.
 */
const TXID_PATTERN = /^([a-z2-7]{10})-([0-9a-z]{1,11})-([0-9a-z]{1,11})-([0-9a-f]{32})$/;

/** A fresh random node id. A restarted node is a new node with a new id. */
export function newNodeId(): string {
  const bytes = randomBytes(NODE_ID_LENGTH);
  let id = '';
  for (const byte of bytes) id += NODE_ID_ALPHABET[byte % NODE_ID_ALPHABET.length];
  return id;
}

export class TxidGenerator {
  private sequence = 0;
  constructor(
    readonly nodeId: string,
    private readonly now: () => number = Date.now,
  ) {}

  next(): string {
    this.sequence += 1;
    // 128 random bits: a txid is a capability, not guessable from the ones a client has seen.
    const random = randomHex16();
    return `${this.nodeId}-${Math.floor(this.now()).toString(36)}-${this.sequence.toString(36)}-${random}`;
  }
}

/**
 * Random bytes drawn from the CSPRNG a pool at a time, as crypto.randomUUID does: one draw of
 * 16 bytes cost about 6 µs, a third of a begin's CPU.
 */
const randomPool = Buffer.alloc(4096);
let randomPoolAt = randomPool.length;

/** 16 fresh random bytes, in hex; no byte of the pool is handed out twice. */
function randomHex16(): string {
  if (randomPoolAt + 16 > randomPool.length) {
    randomFillSync(randomPool);
    randomPoolAt = 0;
  }
  const hex = randomPool.toString('hex', randomPoolAt, randomPoolAt + 16);
  randomPoolAt += 16;
  return hex;
}

export function isTxid(value: string): boolean {
  return TXID_PATTERN.test(value);
}

/** The id of the node that began the transaction, or undefined for a malformed txid. */
export function ownerOfTxid(txid: string): string | undefined {
  return TXID_PATTERN.exec(txid)?.[1];
}

/** The owner's clock when the transaction began, or undefined for a malformed txid. */
export function beganAtOfTxid(txid: string): number | undefined {
  const match = TXID_PATTERN.exec(txid);
  return match ? Number.parseInt(match[2]!, 36) : undefined;
}

export interface HlcTimestamp {
  readonly physicalMs: number;
  readonly logical: number;
}

/**
 * A hybrid logical clock: physical milliseconds plus a logical counter. It never runs
 * backwards on a node, and `observe` moves it past every timestamp the node learns of, so a
 * commit is always ordered after every commit its node had seen.
 */
export class HybridLogicalClock {
  private physicalMs = 0;
  private logical = 0;

  constructor(private readonly now: () => number = Date.now) {}

  tick(): HlcTimestamp {
    const wallMs = this.now();
    if (wallMs > this.physicalMs) {
      this.physicalMs = wallMs;
      this.logical = 0;
    } else if (this.logical < MAX_LOGICAL) {
      this.logical += 1;
    } else {
      // The counter is spent within one millisecond: borrow the next millisecond.
      this.physicalMs += 1;
      this.logical = 0;
    }
    return { physicalMs: this.physicalMs, logical: this.logical };
  }

  observe(timestamp: HlcTimestamp): void {
    if (
      timestamp.physicalMs > this.physicalMs ||
      (timestamp.physicalMs === this.physicalMs && timestamp.logical > this.logical)
    ) {
      this.physicalMs = timestamp.physicalMs;
      this.logical = timestamp.logical;
    }
  }
}

export function formatVersionId(timestamp: HlcTimestamp, txid: string): string {
  return (
    timestamp.physicalMs.toString(16).padStart(MS_HEX_DIGITS, '0') +
    timestamp.logical.toString(16).padStart(LOGICAL_HEX_DIGITS, '0') +
    '.' +
    txid
  );
}

/** A watermark that sorts before every version id taken at `physicalMs` or later. */
export function versionIdFloor(physicalMs: number): string {
  return Math.max(0, Math.floor(physicalMs)).toString(16).padStart(MS_HEX_DIGITS, '0');
}

/** A version id's physical time in ms; 0 for a string that is no version id. */
export function versionTimeOf(versionId: string): number {
  return parseVersionId(versionId)?.physicalMs ?? 0;
}

export interface ParsedVersionId extends HlcTimestamp {
  readonly txid: string;
}

/** Where a version id's txid starts, after its time and the '.'. */
const TXID_AT = MS_HEX_DIGITS + LOGICAL_HEX_DIGITS + 1;
const DOT = 0x2e;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const LOWER_A = 0x61;
const LOWER_F = 0x66;

/**
 * A version id's time and txid, or undefined when it is not one: what
 * `/^([0-9a-f]{12})([0-9a-f]{6})\.(.+)$/` matches, read without a regular expression (a node
 * parses one per commit it learns; test/shim/ids.test.ts holds the two to the same answers).
 */
export function parseVersionId(versionId: string): ParsedVersionId | undefined {
  if (versionId.length <= TXID_AT || versionId.charCodeAt(TXID_AT - 1) !== DOT) return undefined;
  for (let index = 0; index < TXID_AT - 1; index += 1) {
    const code = versionId.charCodeAt(index);
    if (!((code >= DIGIT_0 && code <= DIGIT_9) || (code >= LOWER_A && code <= LOWER_F))) return undefined;
  }
  // `.` of the pattern takes any character but a line terminator.
  for (let index = TXID_AT; index < versionId.length; index += 1) {
    const code = versionId.charCodeAt(index);
    if (code === 0x0a || code === 0x0d || code === 0x2028 || code === 0x2029) return undefined;
  }
  return {
    physicalMs: Number.parseInt(versionId.slice(0, MS_HEX_DIGITS), 16),
    logical: Number.parseInt(versionId.slice(MS_HEX_DIGITS, TXID_AT - 1), 16),
    txid: versionId.slice(TXID_AT),
  };
}
