// An error answered on a raw socket, outside Fastify's request cycle (a
// request that never finished arriving, a connection past the cap): the same
// OpenAI envelope as every other error, as a complete HTTP/1.1 response that
// closes the connection.
import { STATUS_CODES } from "node:http";
import { type GatewayError, toErrorResponse } from "../errors.js";

export function rawErrorResponse(err: GatewayError): string {
  const { status, headers, body } = toErrorResponse(err);
  const json = JSON.stringify(body);
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}`,
    "content-type: application/json; charset=utf-8",
    `content-length: ${Buffer.byteLength(json)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    "connection: close",
  ];
  return `${lines.join("\r\n")}\r\n\r\n${json}`;
}
