/**
 * Anna's client messages (proto3, no package), declared from the fact sheet
 * (../shared/design/anna-wire.md) with protobufjs reflection. Field names stay snake_case
 * (keepCase): the wire format does not care, but the names below are the protocol's own.
 * uint64 timestamps are bigint here. protobufjs is an optional engine package: it is loaded by
 * `loadAnnaMessages` (the Anna client calls it when it opens), not when aft is imported.
 */
import type * as Protobuf from 'protobufjs';
import { missingEnginePackage } from '../engine-packages.js';

export const RequestType = { RT_UNSPECIFIED: 0, GET: 1, PUT: 2 } as const;
export type RequestType = (typeof RequestType)[keyof typeof RequestType];

export const LatticeType = {
  NONE: 0,
  LWW: 1,
  SET: 2,
  SINGLE_CAUSAL: 3,
  MULTI_CAUSAL: 4,
  ORDERED_SET: 5,
  PRIORITY: 6,
} as const;
export type LatticeType = (typeof LatticeType)[keyof typeof LatticeType];

export const AnnaError = {
  NO_ERROR: 0,
  KEY_DNE: 1,
  WRONG_THREAD: 2,
  TIMEOUT: 3,
  LATTICE: 4,
  NO_SERVERS: 5,
} as const;
export type AnnaError = (typeof AnnaError)[keyof typeof AnnaError];

export interface KeyTuple {
  key: string;
  lattice_type?: LatticeType;
  error?: AnnaError;
  payload?: Uint8Array;
  address_cache_size?: number;
  invalidate?: boolean;
}
export interface KeyRequest {
  type: RequestType;
  tuples: KeyTuple[];
  response_address: string;
  request_id: string;
}
export interface KeyResponse {
  type?: RequestType;
  tuples: KeyTuple[];
  response_id?: string;
  error?: AnnaError;
}
export interface KeyAddressRequest {
  response_address: string;
  keys: string[];
  request_id: string;
}
export interface KeyAddress {
  key: string;
  ips: string[];
}
export interface KeyAddressResponse {
  addresses: KeyAddress[];
  error?: AnnaError;
  response_id?: string;
}
export interface LWWValue {
  timestamp: bigint;
  value: Uint8Array;
}
export interface SetValue {
  values: Uint8Array[];
}

const enumValues = (values: Record<string, number>) => ({ values });

type ProtobufModule = typeof Protobuf;
type MessageTypes = ReturnType<typeof buildTypes>;
let types: MessageTypes | undefined;

/** Loads protobufjs and declares the messages; the codecs below work once it resolved. */
export async function loadAnnaMessages(): Promise<void> {
  if (types) return;
  const loaded = await import('protobufjs').catch(missingEnginePackage('protobufjs', 'anna'));
  // CommonJS: its exports are the module's default export.
  types = buildTypes(((loaded as { default?: unknown }).default ?? loaded) as ProtobufModule);
}

function messageTypes(): MessageTypes {
  if (!types) throw new Error('Anna messages used before loadAnnaMessages() resolved');
  return types;
}

function buildTypes(protobuf: ProtobufModule) {
  const root = protobuf.Root.fromJSON({
    nested: {
      RequestType: enumValues(RequestType),
      LatticeType: enumValues(LatticeType),
      AnnaError: enumValues(AnnaError),
      KeyTuple: {
        fields: {
          key: { type: 'string', id: 1 },
          lattice_type: { type: 'LatticeType', id: 2 },
          error: { type: 'AnnaError', id: 3 },
          payload: { type: 'bytes', id: 4 },
          address_cache_size: { type: 'uint32', id: 5 },
          invalidate: { type: 'bool', id: 6 },
        },
      },
      KeyRequest: {
        fields: {
          type: { type: 'RequestType', id: 1 },
          tuples: { rule: 'repeated', type: 'KeyTuple', id: 2 },
          response_address: { type: 'string', id: 3 },
          request_id: { type: 'string', id: 4 },
        },
      },
      KeyResponse: {
        fields: {
          type: { type: 'RequestType', id: 1 },
          tuples: { rule: 'repeated', type: 'KeyTuple', id: 2 },
          response_id: { type: 'string', id: 3 },
          error: { type: 'AnnaError', id: 4 },
        },
      },
      KeyAddressRequest: {
        fields: {
          response_address: { type: 'string', id: 1 },
          keys: { rule: 'repeated', type: 'string', id: 2 },
          request_id: { type: 'string', id: 3 },
        },
      },
      KeyAddressResponse: {
        fields: {
          addresses: { rule: 'repeated', type: 'KeyAddress', id: 1 },
          error: { type: 'AnnaError', id: 2 },
          response_id: { type: 'string', id: 3 },
        },
        nested: {
          KeyAddress: {
            fields: {
              key: { type: 'string', id: 1 },
              ips: { rule: 'repeated', type: 'string', id: 2 },
            },
          },
        },
      },
      LWWValue: {
        fields: {
          timestamp: { type: 'uint64', id: 1 },
          value: { type: 'bytes', id: 2 },
        },
      },
      SetValue: { fields: { values: { rule: 'repeated', type: 'bytes', id: 1 } } },
    },
  });

  return {
    KeyRequest: root.lookupType('KeyRequest'),
    KeyResponse: root.lookupType('KeyResponse'),
    KeyAddressRequest: root.lookupType('KeyAddressRequest'),
    KeyAddressResponse: root.lookupType('KeyAddressResponse'),
    LWWValue: root.lookupType('LWWValue'),
    SetValue: root.lookupType('SetValue'),
  };
}

const TO_OBJECT: Protobuf.IConversionOptions = {
  longs: String,
  enums: Number,
  bytes: Uint8Array as never,
  arrays: true,
};

function encode(type: Protobuf.Type, message: object): Uint8Array {
  return type.encode(type.fromObject(message)).finish();
}

function decode<T>(type: Protobuf.Type, bytes: Uint8Array): T {
  return type.toObject(type.decode(bytes), TO_OBJECT) as T;
}

export const encodeKeyRequest = (message: KeyRequest) => encode(messageTypes().KeyRequest, message);
export const decodeKeyRequest = (bytes: Uint8Array) => decode<KeyRequest>(messageTypes().KeyRequest, bytes);
export const encodeKeyResponse = (message: KeyResponse) => encode(messageTypes().KeyResponse, message);
export const decodeKeyResponse = (bytes: Uint8Array) =>
  decode<KeyResponse>(messageTypes().KeyResponse, bytes);
export const encodeKeyAddressRequest = (message: KeyAddressRequest) =>
  encode(messageTypes().KeyAddressRequest, message);
export const decodeKeyAddressRequest = (bytes: Uint8Array) =>
  decode<KeyAddressRequest>(messageTypes().KeyAddressRequest, bytes);
export const encodeKeyAddressResponse = (message: KeyAddressResponse) =>
  encode(messageTypes().KeyAddressResponse, message);
export const decodeKeyAddressResponse = (bytes: Uint8Array) =>
  decode<KeyAddressResponse>(messageTypes().KeyAddressResponse, bytes);

export function encodeLww(message: LWWValue): Uint8Array {
  return encode(messageTypes().LWWValue, { timestamp: message.timestamp.toString(), value: message.value });
}

export function decodeLww(bytes: Uint8Array): LWWValue {
  const decoded = decode<{ timestamp?: string; value?: Uint8Array }>(messageTypes().LWWValue, bytes);
  return { timestamp: BigInt(decoded.timestamp ?? '0'), value: decoded.value ?? new Uint8Array() };
}

export const encodeSet = (message: SetValue) => encode(messageTypes().SetValue, message);
export function decodeSet(bytes: Uint8Array): SetValue {
  return { values: decode<{ values?: Uint8Array[] }>(messageTypes().SetValue, bytes).values ?? [] };
}
