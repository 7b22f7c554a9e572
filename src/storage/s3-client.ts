// The S3 client for IMAGEGATE_S3_*: AWS S3 or any S3-compatible store (MinIO,
// R2, Ceph). Credentials come from the SDK's standard chain (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, profiles, instance roles): never
// from the gateway's own configuration.
import { S3Client } from "@aws-sdk/client-s3";

/** Where the bucket is (config.ts's S3Settings has these). */
export interface S3ClientSettings {
  /** For S3-compatible stores (MinIO, R2, Ceph); undefined: AWS. */
  endpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
}

export function createS3Client(settings: S3ClientSettings): S3Client {
  return new S3Client({
    region: settings.region,
    ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
    forcePathStyle: settings.forcePathStyle,
    // Checksums only where S3 requires them: S3-compatible stores do not all
    // take the SDK's newer default (CRC32 on every request).
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}
