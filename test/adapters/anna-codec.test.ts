/**
 * Our Anna message encoding against the golden frames captured from a real Anna
 * (../shared/design/anna-wire.md), byte for byte, both ways.
 */
import {
  decodeKeyAddressRequest,
  decodeKeyAddressResponse,
  decodeKeyRequest,
  decodeKeyResponse,
  decodeLww,
  encodeKeyAddressRequest,
  encodeKeyAddressResponse,
  encodeKeyRequest,
  encodeKeyResponse,
  encodeLww,
  LatticeType,
  loadAnnaMessages,
  RequestType,
} from '../../adapters/anna/messages.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const fromHex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));
const text = (value: string) => new Uint8Array(Buffer.from(value));

const GOLDEN = {
  keyAddressRequest:
    '0a147463703a2f2f3132372e302e302e313a363736301208676f6c64656e2d311a0b3132372e302e302e313a30',
  keyAddressResponse:
    '0a200a08676f6c64656e2d3112147463703a2f2f3132372e302e302e313a363230301a0b3132372e302e302e313a30',
  lww: '0880a0d8f7e1ee03120176',
  putRequest:
    '080212190a08676f6c64656e2d311001220b0880a0d8f7e1ee031201761a147463703a2f2f3132372e302e302e313a36343630220b3132372e302e302e313a31',
  putResponse: '0802120c0a08676f6c64656e2d3110011a0b3132372e302e302e313a31',
  getRequest:
    '0801120a0a08676f6c64656e2d311a147463703a2f2f3132372e302e302e313a36343630220b3132372e302e302e313a32',
  getResponse: '080112190a08676f6c64656e2d311001220b0880a0d8f7e1ee031201761a0b3132372e302e302e313a32',
};

const lww = { timestamp: 17_000_000_000_000n, value: text('v') };

describe('Anna messages against the golden frames', () => {
  // protobufjs is an optional engine package, loaded when an Anna client opens.
  beforeAll(loadAnnaMessages);

  it('KeyAddressRequest', () => {
    const message = {
      response_address: 'tcp://127.0.0.1:6760',
      keys: ['golden-1'],
      request_id: '127.0.0.1:0',
    };
    expect(hex(encodeKeyAddressRequest(message))).toBe(GOLDEN.keyAddressRequest);
    expect(decodeKeyAddressRequest(fromHex(GOLDEN.keyAddressRequest))).toEqual(message);
  });

  it('KeyAddressResponse', () => {
    const message = {
      addresses: [{ key: 'golden-1', ips: ['tcp://127.0.0.1:6200'] }],
      response_id: '127.0.0.1:0',
    };
    expect(hex(encodeKeyAddressResponse(message))).toBe(GOLDEN.keyAddressResponse);
    expect(decodeKeyAddressResponse(fromHex(GOLDEN.keyAddressResponse))).toEqual(message);
  });

  it('LWWValue, with a uint64 timestamp', () => {
    expect(hex(encodeLww(lww))).toBe(GOLDEN.lww);
    expect(decodeLww(fromHex(GOLDEN.lww))).toEqual(lww);
  });

  it('KeyRequest PUT and its KeyResponse', () => {
    const request = {
      type: RequestType.PUT,
      tuples: [{ key: 'golden-1', lattice_type: LatticeType.LWW, payload: encodeLww(lww) }],
      response_address: 'tcp://127.0.0.1:6460',
      request_id: '127.0.0.1:1',
    };
    expect(hex(encodeKeyRequest(request))).toBe(GOLDEN.putRequest);
    expect(decodeKeyRequest(fromHex(GOLDEN.putRequest))).toEqual(request);
    const response = {
      type: RequestType.PUT,
      tuples: [{ key: 'golden-1', lattice_type: LatticeType.LWW }],
      response_id: '127.0.0.1:1',
    };
    expect(hex(encodeKeyResponse(response))).toBe(GOLDEN.putResponse);
    expect(decodeKeyResponse(fromHex(GOLDEN.putResponse))).toEqual(response);
  });

  it('KeyRequest GET and its KeyResponse', () => {
    const request = {
      type: RequestType.GET,
      tuples: [{ key: 'golden-1' }],
      response_address: 'tcp://127.0.0.1:6460',
      request_id: '127.0.0.1:2',
    };
    expect(hex(encodeKeyRequest(request))).toBe(GOLDEN.getRequest);
    expect(decodeKeyRequest(fromHex(GOLDEN.getRequest))).toEqual(request);
    const response = {
      type: RequestType.GET,
      tuples: [{ key: 'golden-1', lattice_type: LatticeType.LWW, payload: encodeLww(lww) }],
      response_id: '127.0.0.1:2',
    };
    expect(hex(encodeKeyResponse(response))).toBe(GOLDEN.getResponse);
    expect(decodeKeyResponse(fromHex(GOLDEN.getResponse))).toEqual(response);
  });
});
