// The OpenAI image request as the gateway understands it, after the HTTP layer
// has checked its shape with zod. Field names follow the OpenAI API (snake_case)
// so that what the caller sent and what the catalogue checks read the same.

export type ResponseFormat = "url" | "b64_json";
export type OutputFormat = "png" | "jpeg" | "webp";

export interface ImageRequest {
  prompt: string;
  model?: string | undefined;
  n?: number | undefined;
  size?: string | undefined;
  quality?: string | undefined;
  response_format?: ResponseFormat | undefined;
  style?: "vivid" | "natural" | undefined;
  user?: string | undefined;
  background?: "transparent" | "opaque" | "auto" | undefined;
  moderation?: "low" | "auto" | undefined;
  output_format?: OutputFormat | undefined;
  output_compression?: number | undefined;
  stream?: boolean | undefined;
  partial_images?: number | undefined;
  /** The upstream's extension: reference images as URLs (http, https or data:). */
  image_url?: string | string[] | undefined;
  /** The upstream's extension, passed through after checking `google.image_config`. */
  extra_body?: ExtraBody | undefined;
}

export interface ExtraBody {
  google?:
    | {
        image_config?:
          | {
              aspect_ratio?: string | undefined;
              image_size?: string | undefined;
              [key: string]: unknown;
            }
          | undefined;
        [key: string]: unknown;
      }
    | undefined;
  [key: string]: unknown;
}
