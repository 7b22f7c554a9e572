// Before an image request's body is read: everything that can refuse it
// without its body. Authentication and the rpm limit have run already
// (onRequest); here a body declared larger than allowed is a 413, the body's
// bytes are reserved from the upload budget (a 503 or 429 when it is spent),
// and the tenant's concurrency slot is taken (a 429 at its max_concurrent).
// Refused this early, a hostile upload costs nothing but its headers: the
// error handler closes the connection instead of reading the body.
import { pipeline, Transform, type TransformCallback } from "node:stream";
import type { FastifyReply, FastifyRequest, RequestPayload } from "fastify";
import { gatewayError } from "../errors.js";
import type { ConcurrencyGate } from "../tenancy/limits.js";
import type { UploadBudget } from "../tenancy/upload-budget.js";
import { tenantOf } from "./auth.js";

/** What a request holds between its headers and its admission. */
export interface Intake {
  /** The concurrency slot taken for this request; whoever takes it releases it. */
  takeSlot(): (() => void) | undefined;
  /**
   * The body's reservation from the upload budget; whoever takes it releases
   * it (admission, once the spooled files are gone). Untaken, it is released
   * when the response is over.
   */
  takeReservation(): () => void;
}

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the intake hook on the image routes. */
    intake: Intake | null;
  }
}

export interface IntakeOptions {
  gate: ConcurrencyGate;
  budget: UploadBudget;
  /** The most a multipart body may carry: every file plus room for the fields. */
  maxMultipartBytes: number;
  /** Fastify's bodyLimit for JSON bodies. */
  maxJsonBytes: number;
  /**
   * Whether the request may join a generation an earlier attempt started (an
   * SDK retry, a known Idempotency-Key): the earlier task holds a slot already,
   * so such a request is not refused here when the tenant is at its cap.
   */
  mayJoin(request: FastifyRequest): Promise<boolean>;
}

// Bodies this small are not worth a reservation (a prompt and a few fields).
const smallBodyBytes = 1024 * 1024;

// A form's files go to disk, but a JSON body (data: URIs) is held in memory
// about three times over while its request lives: the received text, the
// parsed strings, and the submit body built from them. It counts as such.
const jsonMemoryFactor = 3;

/** Room for the text fields and part headers of a form, beside its files. */
export const formOverheadBytes = 1024 * 1024;

function declaredLength(request: FastifyRequest): number | undefined {
  const value = request.headers["content-length"];
  if (value === undefined || !/^\d{1,15}$/.test(value)) return undefined;
  return Number(value);
}

/** Counts the bytes of a body that declared no length, to size its reservation once it is in. */
class ByteCounter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

export function intakeHook(options: IntakeOptions) {
  const { gate, budget } = options;
  return async (
    request: FastifyRequest,
    reply: FastifyReply,
    payload: RequestPayload,
  ): Promise<RequestPayload> => {
    const tenant = tenantOf(request);
    // request.isMultipart() is only known once the body parser ran: after this hook.
    const multipart = /^multipart\/form-data\b/i.test(request.headers["content-type"] ?? "");
    const most = multipart ? options.maxMultipartBytes : options.maxJsonBytes;
    const declared = declaredLength(request);
    if (multipart && declared !== undefined && declared > most) {
      throw gatewayError("upload_too_large", {
        maxBytes: most - formOverheadBytes,
        declared: true,
      });
    }
    const weight = multipart ? 1 : jsonMemoryFactor;
    const bytes = Math.min(declared ?? most, most);
    // What is reserved may change once a body of unknown length is in: the
    // release handed out stays the same function.
    let held = bytes > smallBodyBytes ? await budget.reserve(tenant.id, bytes * weight) : () => {};
    let bytesReleased = false;
    const releaseBytes = () => {
      bytesReleased = true;
      held();
    };
    let slot: (() => void) | undefined;
    try {
      slot = (await options.mayJoin(request))
        ? await gate.tryAcquire(tenant.id, tenant.maxConcurrent)
        : await gate.acquire(tenant.id, tenant.maxConcurrent);
    } catch (err) {
      releaseBytes();
      throw err;
    }
    let reservationTaken = false;
    request.intake = {
      takeSlot() {
        const taken = slot;
        slot = undefined;
        return taken;
      },
      takeReservation() {
        reservationTaken = true;
        return releaseBytes;
      },
    };
    // However the request ends before admission took these over.
    const release = () => {
      if (!reservationTaken) releaseBytes();
      slot?.();
      slot = undefined;
    };
    reply.raw.once("close", release);
    // The client may have gone before this hook ran: then "close" is past.
    if (reply.raw.destroyed || request.raw.socket?.destroyed) release();
    // A JSON body sent without a length reserved the most it could be: once
    // it is in, the reservation shrinks to what it is.
    if (!multipart && declared === undefined && bytes > smallBodyBytes) {
      const counter = new ByteCounter();
      counter.once("end", () => {
        if (reservationTaken || bytesReleased) return;
        held();
        held = () => {};
        if (counter.bytes <= smallBodyBytes) return;
        // Forced (never refused); given back at once should the request be over first.
        void budget.reserve(tenant.id, counter.bytes * weight, { force: true }).then(
          (release) => {
            if (bytesReleased) release();
            else held = release;
          },
          () => {},
        );
      });
      // pipeline: a body cut short errors the counter too, so the parser ends.
      pipeline(payload, counter, () => {});
      return counter;
    }
    return payload;
  };
}
