/* The kiln.ingest.v1 IngestService for @grpc/grpc-js: requests cross as the bytes the agent spooled
 * (encoded once, when the window closed) and are decoded by the server itself, so a malformed batch is
 * answered INVALID_ARGUMENT with the reason instead of failing inside the transport. */
import { fromBinary, toBinary, create } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { PushResponseSchema, RegisterRequestSchema, RegisterResponseSchema, type PushResponse, type RegisterRequest, type RegisterResponse } from './gen/kiln/ingest/v1/ingest_pb.js';

export const PUSH_PATH = '/kiln.ingest.v1.IngestService/Push';
export const REGISTER_PATH = '/kiln.ingest.v1.IngestService/Register';

/** The largest message the server takes (stated in the README); agents split batches below it. */
export const MAX_MESSAGE_BYTES = 64 << 20;
/** What an agent aims a batch at: a quarter of the server's limit leaves room for any version skew. */
export const TARGET_BATCH_BYTES = 16 << 20;

export const INGEST_SERVICE = {
  push: {
    path: PUSH_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (r: PushResponse) => Buffer.from(toBinary(PushResponseSchema, r)),
    responseDeserialize: (b: Buffer) => fromBinary(PushResponseSchema, b),
  },
  register: {
    path: REGISTER_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (r: RegisterRequest) => Buffer.from(toBinary(RegisterRequestSchema, r)),
    requestDeserialize: (b: Buffer) => fromBinary(RegisterRequestSchema, b),
    responseSerialize: (r: RegisterResponse) => Buffer.from(toBinary(RegisterResponseSchema, r)),
    responseDeserialize: (b: Buffer) => fromBinary(RegisterResponseSchema, b),
  },
} satisfies grpc.ServiceDefinition;

export function pushResponse(duplicate: boolean, rows: number): PushResponse {
  return create(PushResponseSchema, { duplicate, rows: BigInt(rows) });
}

/** The metadata key and form of the bearer token (as HTTP's Authorization header). */
export const AUTH_KEY = 'authorization';
export const bearer = (token: string) => `Bearer ${token}`;

/** gRPC status names for metrics labels (`pushes_total{code="UNAVAILABLE"}`). */
export function codeName(code: number): string {
  return (grpc.status as unknown as Record<number, string>)[code] ?? String(code);
}
