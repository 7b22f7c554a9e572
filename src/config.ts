// The environment, parsed once at boot into one typed Config.
// A bad value becomes a ConfigError naming the variable; main.ts prints that
// one line and exits, never a stack trace.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { createModelMap, type ModelOverrides, parseModelFile } from "./catalog/model-map.js";
import { checkModelDefaults } from "./catalog/translate.js";

const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const intFromEnv = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const httpUrl = z
  .string()
  .trim()
  .refine((value) => {
    try {
      const url = new URL(value);
      return url.protocol === "http:" || url.protocol === "https:";
    } catch {
      return false;
    }
  }, "must be an http(s) URL")
  .transform((value) => value.replace(/\/+$/, ""));

const masterKey = z
  .string()
  .trim()
  .refine(
    (value) => /^[A-Za-z0-9+/_-]+={0,2}$/.test(value) && Buffer.from(value, "base64").length === 32,
    "must be 32 bytes encoded in base64 (openssl rand -base64 32)",
  )
  .transform((value) => Buffer.from(value, "base64"));

const nonEmptySecret = z.string().trim().min(1, "must not be empty");

const envSchema = z.object({
  PORT: intFromEnv(0, 65535).default(8080),
  HOST: z.string().trim().min(1).default("0.0.0.0"),
  LOG_LEVEL: z.enum(logLevels).default("info"),
  IMAGEGATE_UPSTREAM_URL: httpUrl.default("https://www.zexitongxue.com"),
  IMAGEGATE_UPSTREAM_KEY: nonEmptySecret.optional(),
  IMAGEGATE_DATA_DIR: z.string().trim().min(1).default("./data"),
  IMAGEGATE_PUBLIC_URL: httpUrl.optional(),
  IMAGEGATE_ADMIN_TOKEN: z
    .string()
    .trim()
    .min(16, "must be at least 16 characters (openssl rand -hex 24)")
    // A Bearer header cannot carry whitespace: such a token could never match.
    .regex(/^\S+$/, "must not contain whitespace")
    .optional(),
  IMAGEGATE_MASTER_KEY: masterKey.optional(),
  IMAGEGATE_MAX_WAIT_MS: intFromEnv(1_000, 3_600_000).default(540_000),
  // Not in DESIGN.md's table; operational knobs with safe defaults.
  IMAGEGATE_URL_TTL_SECONDS: intFromEnv(60, 30 * 24 * 3600).default(24 * 3600),
  IMAGEGATE_MAX_BODY_MB: intFromEnv(1, 512).default(50),
  // How uploaded reference images (edits, variations) reach the upstream:
  // inline data: URIs, short-lived signed URLs on IMAGEGATE_PUBLIC_URL, or
  // auto (URLs when the public URL is reachable from outside, else data:).
  IMAGEGATE_REFERENCE_DELIVERY: z.enum(["auto", "url", "data"]).default("auto"),
  IMAGEGATE_MAX_UPLOAD_MB: intFromEnv(1, 100).default(25),
  // All files of one request together; a form past it is refused and cut off.
  IMAGEGATE_MAX_UPLOAD_TOTAL_MB: intFromEnv(1, 1024).default(64),
  // Upload bytes being received by this process at once, all tenants together:
  // a request that would pass it is refused (503, retry-after) before it is read.
  IMAGEGATE_MAX_UPLOADS_IN_FLIGHT_MB: intFromEnv(1, 65_536).default(512),
  // Largest body the upstream takes (new-api's MAX_REQUEST_BODY_MB defaults to
  // 32): a submit that would be larger is refused with a 413 before it is sent.
  IMAGEGATE_UPSTREAM_MAX_BODY_MB: intFromEnv(1, 1024).default(32),
  // One upstream result; a larger one is a 502 and the task is recorded as failed.
  IMAGEGATE_MAX_RESULT_MB: intFromEnv(1, 2048).default(100),
  // A request's headers and body must arrive within this.
  IMAGEGATE_BODY_TIMEOUT_MS: intFromEnv(1_000, 600_000).default(60_000),
  // Open client connections per process; past it new ones are refused.
  IMAGEGATE_MAX_CONNECTIONS: intFromEnv(1, 1_000_000).default(20_000),
  // On SIGTERM, how long in-flight synchronous requests may finish.
  IMAGEGATE_DRAIN_TIMEOUT_MS: intFromEnv(0, 3_600_000).default(20_000),
  // Checked against the effective model map once the model file is read.
  IMAGEGATE_VARIATION_MODEL: z.string().trim().min(1).default("dall-e-2"),
  // The operator's model map (JSON): public names → upstream models, defaults, hidden names.
  IMAGEGATE_MODELS_FILE: z.string().trim().min(1).optional(),
  // Edits with a mask: composite the upstream's result over the original
  // through the mask (OpenAI's semantics), or refuse the mask with a 400.
  IMAGEGATE_MASKS: z.enum(["composite", "refuse"]).default("composite"),
  // Shared state for replicas: PostgreSQL instead of the embedded SQLite file.
  IMAGEGATE_DATABASE_URL: z
    .string()
    .trim()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional(),
  // Limits shared by replicas (rpm, concurrency slots, upload shares) in Redis.
  IMAGEGATE_REDIS_URL: z
    .string()
    .trim()
    .regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL")
    .optional(),
  // Prepended to every Redis key: several installations (or tests) on one Redis.
  IMAGEGATE_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, "must be 1-64 letters, digits or _.:-")
    .default("imagegate:"),
  // Results and references in S3-compatible storage; credentials from AWS_*.
  IMAGEGATE_S3_BUCKET: z
    .string()
    .trim()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name")
    .optional(),
  IMAGEGATE_S3_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  IMAGEGATE_S3_REGION: z.string().trim().min(1).default("us-east-1"),
  IMAGEGATE_S3_FORCE_PATH_STYLE: z.stringbool().default(false),
  IMAGEGATE_S3_PRESIGNED_URLS: z.stringbool().default(false),
  // A token that may scrape GET /metrics (the admin token may too).
  IMAGEGATE_METRICS_TOKEN: z
    .string()
    .min(16, "must be at least 16 characters (openssl rand -hex 24)")
    .regex(/^\S+$/, "must not contain whitespace")
    .optional(),
  // Tenant labels on the metrics: one series per tenant, so off by default.
  IMAGEGATE_METRICS_TENANT_LABELS: z.stringbool().default(false),
  // Traces over OTLP/HTTP when set (the collector's base URL; the exporter
  // appends /v1/traces and reads the other OTEL_EXPORTER_OTLP_* itself).
  OTEL_EXPORTER_OTLP_ENDPOINT: httpUrl.optional(),
  // The traces' own URL, taken as it is (OpenTelemetry's rule), over the base URL.
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: httpUrl.optional(),
  OTEL_SERVICE_NAME: z.string().trim().min(1).default("imagegate"),
});

export interface Config {
  port: number;
  host: string;
  logLevel: (typeof logLevels)[number];
  upstreamUrl: string;
  upstreamKey: string | undefined;
  dataDir: string;
  publicUrl: string;
  adminToken: string | undefined;
  masterKey: Buffer | undefined;
  maxWaitMs: number;
  /** How long re-hosted images (and their signed URLs) live. */
  urlTtlMs: number;
  maxBodyBytes: number;
  referenceDelivery: "auto" | "url" | "data";
  maxUploadBytes: number;
  /** All files of one request. */
  maxUploadTotalBytes: number;
  /** Upload bytes in flight in this process, all requests together. */
  maxUploadsInFlightBytes: number;
  /** Largest submit body the upstream takes. */
  upstreamMaxBodyBytes: number;
  /** Largest single upstream result. */
  maxResultBytes: number;
  /** A request's body must have arrived within this. */
  bodyTimeoutMs: number;
  maxConnections: number;
  /** The model name variations run on (a name the catalogue resolves). */
  variationModel: string;
  drainTimeoutMs: number;
  /** What an edit's `mask` does: composited over the original, or refused. */
  masks: "composite" | "refuse";
  /** IMAGEGATE_MODELS_FILE, as given. */
  modelsFile: string | undefined;
  /** The model file's names, validated (empty without a file): laid over the built-in table. */
  modelOverrides: ModelOverrides;
  /** IMAGEGATE_DATABASE_URL: PostgreSQL shared by replicas; undefined: SQLite in the data dir. */
  databaseUrl: string | undefined;
  /** IMAGEGATE_REDIS_URL: limits shared by replicas; undefined: in process. */
  redisUrl: string | undefined;
  redisPrefix: string;
  /** IMAGEGATE_S3_*: where images live when set; undefined: the data dir. */
  s3: S3Settings | undefined;
  metricsToken: string | undefined;
  metricsTenantLabels: boolean;
  /** OTEL_EXPORTER_OTLP_ENDPOINT set: traces exported there; undefined: tracing off. */
  tracing: TracingSettings | undefined;
}

export interface TracingSettings {
  /**
   * Where spans are posted: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, else
   * OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces. (OTEL_EXPORTER_OTLP_HEADERS and
   * the exporter's other variables it reads itself.)
   */
  tracesUrl: string;
  /** OTEL_SERVICE_NAME: the resource's service.name. */
  serviceName: string;
}

export interface S3Settings {
  bucket: string;
  /** For S3-compatible stores (MinIO, R2, Ceph); undefined: AWS. */
  endpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
  /** Hand out presigned S3 URLs instead of the gateway's own. */
  presignedUrls: boolean;
}

export class ConfigError extends Error {
  /** One problem or several (a model file's): one line each, all naming the variable. */
  constructor(
    readonly variable: string,
    problem: string | readonly string[],
  ) {
    const problems = typeof problem === "string" ? [problem] : problem;
    super(problems.map((line) => `invalid configuration: ${variable} ${line}`).join("\n"));
    this.name = "ConfigError";
  }
}

/**
 * Reads and checks the operator's model file (JSON) once, at start. Every
 * problem is one line naming the file, the entry and the field.
 */
export function loadModelFile(path: string): ModelOverrides {
  const variable = "IMAGEGATE_MODELS_FILE";
  const yaml = /\.ya?ml$/i.test(path);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new ConfigError(variable, `${path}: cannot be read (${code})`);
  }
  let data: unknown;
  try {
    data = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    const language = yaml ? "YAML" : "JSON";
    const reason = (err as Error).message.split("\n")[0];
    throw new ConfigError(variable, `${path}: is not valid ${language} (${reason})`);
  }
  const parsed = parseModelFile(data);
  if (!parsed.ok) {
    throw new ConfigError(
      variable,
      parsed.problems.map((problem) => `${path}: ${problem}`),
    );
  }
  const problems = checkModelDefaults(createModelMap(parsed.overrides));
  if (problems.length > 0) {
    throw new ConfigError(
      variable,
      problems.map((problem) => `${path}: ${problem}`),
    );
  }
  return parsed.overrides;
}

/** Parses the environment; throws ConfigError naming the first bad variable. */
/** Traces on when a collector is named (OpenTelemetry's variables), else undefined. */
function tracingOf(e: z.output<typeof envSchema>): TracingSettings | undefined {
  const base = e.OTEL_EXPORTER_OTLP_ENDPOINT;
  const tracesUrl =
    e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (base === undefined ? undefined : new URL("v1/traces", `${base.replace(/\/+$/, "")}/`).href);
  return tracesUrl === undefined ? undefined : { tracesUrl, serviceName: e.OTEL_SERVICE_NAME };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Treat empty strings as unset: docker-compose's `VAR=` and `${VAR:-}` give "".
  const present = Object.fromEntries(
    Object.keys(envSchema.shape)
      .map((name) => [name, env[name]] as const)
      .filter(([, value]) => value !== undefined && value.trim() !== ""),
  );
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? "environment");
    throw new ConfigError(variable, issue?.message ?? "is invalid");
  }
  const e = parsed.data;
  const mb = 1024 * 1024;
  const modelOverrides = e.IMAGEGATE_MODELS_FILE ? loadModelFile(e.IMAGEGATE_MODELS_FILE) : {};
  const variation = createModelMap(modelOverrides).resolve(e.IMAGEGATE_VARIATION_MODEL);
  if (!variation || variation.spec.maxReferences === 0) {
    throw new ConfigError(
      "IMAGEGATE_VARIATION_MODEL",
      "must be a model that takes a reference image (e.g. gpt-image-2)",
    );
  }
  return {
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    upstreamUrl: e.IMAGEGATE_UPSTREAM_URL,
    upstreamKey: e.IMAGEGATE_UPSTREAM_KEY,
    dataDir: e.IMAGEGATE_DATA_DIR,
    publicUrl: e.IMAGEGATE_PUBLIC_URL ?? `http://localhost:${e.PORT}`,
    adminToken: e.IMAGEGATE_ADMIN_TOKEN,
    masterKey: e.IMAGEGATE_MASTER_KEY,
    maxWaitMs: e.IMAGEGATE_MAX_WAIT_MS,
    urlTtlMs: e.IMAGEGATE_URL_TTL_SECONDS * 1000,
    maxBodyBytes: e.IMAGEGATE_MAX_BODY_MB * mb,
    referenceDelivery: e.IMAGEGATE_REFERENCE_DELIVERY,
    maxUploadBytes: e.IMAGEGATE_MAX_UPLOAD_MB * mb,
    maxUploadTotalBytes: e.IMAGEGATE_MAX_UPLOAD_TOTAL_MB * mb,
    maxUploadsInFlightBytes: e.IMAGEGATE_MAX_UPLOADS_IN_FLIGHT_MB * mb,
    upstreamMaxBodyBytes: e.IMAGEGATE_UPSTREAM_MAX_BODY_MB * mb,
    maxResultBytes: e.IMAGEGATE_MAX_RESULT_MB * mb,
    bodyTimeoutMs: e.IMAGEGATE_BODY_TIMEOUT_MS,
    maxConnections: e.IMAGEGATE_MAX_CONNECTIONS,
    variationModel: e.IMAGEGATE_VARIATION_MODEL,
    drainTimeoutMs: e.IMAGEGATE_DRAIN_TIMEOUT_MS,
    masks: e.IMAGEGATE_MASKS,
    modelsFile: e.IMAGEGATE_MODELS_FILE,
    modelOverrides,
    databaseUrl: e.IMAGEGATE_DATABASE_URL,
    redisUrl: e.IMAGEGATE_REDIS_URL,
    redisPrefix: e.IMAGEGATE_REDIS_PREFIX,
    s3:
      e.IMAGEGATE_S3_BUCKET === undefined
        ? undefined
        : {
            bucket: e.IMAGEGATE_S3_BUCKET,
            endpoint: e.IMAGEGATE_S3_ENDPOINT,
            region: e.IMAGEGATE_S3_REGION,
            forcePathStyle: e.IMAGEGATE_S3_FORCE_PATH_STYLE,
            presignedUrls: e.IMAGEGATE_S3_PRESIGNED_URLS,
          },
    metricsToken: e.IMAGEGATE_METRICS_TOKEN,
    metricsTenantLabels: e.IMAGEGATE_METRICS_TENANT_LABELS,
    tracing: tracingOf(e),
  };
}

/** Parses a master key held in another variable (the old key, for rotation). */
export function parseMasterKey(variable: string, value: string | undefined): Buffer {
  const parsed = masterKey.safeParse(value ?? "");
  if (!parsed.success) {
    throw new ConfigError(
      variable,
      value ? (parsed.error.issues[0]?.message ?? "is invalid") : "is not set",
    );
  }
  return parsed.data;
}

/** Parses the environment or exits with one line naming the bad variable. */
export function configOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`imagegate: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
