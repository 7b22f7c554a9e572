// The environment schema: DESIGN.md's defaults, one clear line per bad
// variable, and no secret in any message.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

/** Runs loadConfig and returns the ConfigError it must throw. */
function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

const masterKey = randomBytes(32);

describe("loadConfig defaults (DESIGN.md)", () => {
  it("applies every default to an empty environment", () => {
    expect(loadConfig({})).toEqual({
      port: 8080,
      host: "0.0.0.0",
      logLevel: "info",
      upstreamUrl: "https://www.zexitongxue.com",
      upstreamKey: undefined,
      dataDir: "./data",
      publicUrl: "http://localhost:8080",
      adminToken: undefined,
      masterKey: undefined,
      maxWaitMs: 540_000,
      urlTtlMs: 24 * 3600 * 1000,
      maxBodyBytes: 50 * 1024 * 1024,
      referenceDelivery: "auto",
      maxUploadBytes: 25 * 1024 * 1024,
      maxUploadTotalBytes: 64 * 1024 * 1024,
      maxUploadsInFlightBytes: 512 * 1024 * 1024,
      upstreamMaxBodyBytes: 32 * 1024 * 1024,
      maxResultBytes: 100 * 1024 * 1024,
      bodyTimeoutMs: 60_000,
      maxConnections: 20_000,
      variationModel: "dall-e-2",
      drainTimeoutMs: 20_000,
      masks: "composite",
      modelsFile: undefined,
      modelOverrides: {},
      databaseUrl: undefined,
      redisUrl: undefined,
      redisPrefix: "imagegate:",
      s3: undefined,
      metricsToken: undefined,
      metricsTenantLabels: false,
      tracing: undefined,
    });
  });

  it("keeps the default wait under the OpenAI SDK's 10-minute timeout", () => {
    expect(loadConfig({}).maxWaitMs).toBeLessThan(600_000);
  });

  it("derives the public URL from PORT", () => {
    expect(loadConfig({ PORT: "9000" }).publicUrl).toBe("http://localhost:9000");
  });

  it("only reads the environment it is given", () => {
    const saved = process.env.PORT;
    process.env.PORT = "1234";
    try {
      expect(loadConfig({}).port).toBe(8080);
    } finally {
      if (saved === undefined) delete process.env.PORT;
      else process.env.PORT = saved;
    }
  });
});

describe("loadConfig values", () => {
  it("parses every variable", () => {
    const config = loadConfig({
      PORT: "3000",
      HOST: "127.0.0.1",
      LOG_LEVEL: "debug",
      IMAGEGATE_UPSTREAM_URL: "http://upstream.internal:8081",
      IMAGEGATE_UPSTREAM_KEY: "sk-upstream",
      IMAGEGATE_DATA_DIR: "/var/lib/imagegate",
      IMAGEGATE_PUBLIC_URL: "https://images.example.com",
      IMAGEGATE_ADMIN_TOKEN: "0123456789abcdef0123",
      IMAGEGATE_MASTER_KEY: masterKey.toString("base64"),
      IMAGEGATE_MAX_WAIT_MS: "120000",
      IMAGEGATE_URL_TTL_SECONDS: "3600",
      IMAGEGATE_MAX_BODY_MB: "20",
      IMAGEGATE_REFERENCE_DELIVERY: "data",
      IMAGEGATE_MAX_UPLOAD_MB: "10",
      IMAGEGATE_MAX_UPLOAD_TOTAL_MB: "40",
      IMAGEGATE_MAX_UPLOADS_IN_FLIGHT_MB: "256",
      IMAGEGATE_UPSTREAM_MAX_BODY_MB: "16",
      IMAGEGATE_MAX_RESULT_MB: "50",
      IMAGEGATE_BODY_TIMEOUT_MS: "30000",
      IMAGEGATE_MAX_CONNECTIONS: "5000",
      IMAGEGATE_VARIATION_MODEL: "nano-banana",
      IMAGEGATE_DRAIN_TIMEOUT_MS: "5000",
      IMAGEGATE_MASKS: "refuse",
    });
    expect(config).toEqual({
      port: 3000,
      host: "127.0.0.1",
      logLevel: "debug",
      upstreamUrl: "http://upstream.internal:8081",
      upstreamKey: "sk-upstream",
      dataDir: "/var/lib/imagegate",
      publicUrl: "https://images.example.com",
      adminToken: "0123456789abcdef0123",
      masterKey,
      maxWaitMs: 120_000,
      urlTtlMs: 3_600_000,
      maxBodyBytes: 20 * 1024 * 1024,
      referenceDelivery: "data",
      maxUploadBytes: 10 * 1024 * 1024,
      maxUploadTotalBytes: 40 * 1024 * 1024,
      maxUploadsInFlightBytes: 256 * 1024 * 1024,
      upstreamMaxBodyBytes: 16 * 1024 * 1024,
      maxResultBytes: 50 * 1024 * 1024,
      bodyTimeoutMs: 30_000,
      maxConnections: 5_000,
      variationModel: "nano-banana",
      drainTimeoutMs: 5_000,
      masks: "refuse",
      modelsFile: undefined,
      modelOverrides: {},
      databaseUrl: undefined,
      redisUrl: undefined,
      redisPrefix: "imagegate:",
      s3: undefined,
      metricsToken: undefined,
      metricsTenantLabels: false,
      tracing: undefined,
    });
  });

  it("turns traces on with OTEL_EXPORTER_OTLP_ENDPOINT, named by OTEL_SERVICE_NAME", () => {
    expect(loadConfig({ OTEL_SERVICE_NAME: "ignored-when-off" }).tracing).toBe(undefined);
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" }).tracing).toEqual({
      tracesUrl: "http://collector:4318/v1/traces",
      serviceName: "imagegate",
    });
    expect(
      loadConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: "https://otel.example.com/otlp",
        OTEL_SERVICE_NAME: "imagegate-eu",
      }).tracing,
    ).toEqual({
      tracesUrl: "https://otel.example.com/otlp/v1/traces",
      serviceName: "imagegate-eu",
    });
    // The traces' own URL is taken as it is, and wins over the base.
    expect(
      loadConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://traces.example.com/ingest",
      }).tracing?.tracesUrl,
    ).toBe("http://traces.example.com/ingest");
  });

  it("trims whitespace around values", () => {
    const config = loadConfig({ PORT: " 3000 ", IMAGEGATE_UPSTREAM_KEY: " sk-upstream\n" });
    expect(config.port).toBe(3000);
    expect(config.upstreamKey).toBe("sk-upstream");
  });

  it("drops trailing slashes from URLs", () => {
    const config = loadConfig({
      IMAGEGATE_UPSTREAM_URL: "https://upstream.example.com/api//",
      IMAGEGATE_PUBLIC_URL: "https://images.example.com/",
    });
    expect(config.upstreamUrl).toBe("https://upstream.example.com/api");
    expect(config.publicUrl).toBe("https://images.example.com");
  });

  it("accepts every pino level", () => {
    for (const level of ["fatal", "error", "warn", "info", "debug", "trace", "silent"]) {
      expect(loadConfig({ LOG_LEVEL: level }).logLevel).toBe(level);
    }
  });

  it("accepts the limits of numeric ranges", () => {
    expect(loadConfig({ PORT: "0" }).port).toBe(0);
    expect(loadConfig({ PORT: "65535" }).port).toBe(65535);
    expect(loadConfig({ IMAGEGATE_MAX_WAIT_MS: "1000" }).maxWaitMs).toBe(1_000);
    expect(loadConfig({ IMAGEGATE_MAX_WAIT_MS: "3600000" }).maxWaitMs).toBe(3_600_000);
  });

  const mb = 1024 * 1024;
  it.each([
    ["IMAGEGATE_MAX_UPLOAD_TOTAL_MB", "maxUploadTotalBytes", 1, 1024, mb],
    ["IMAGEGATE_MAX_UPLOADS_IN_FLIGHT_MB", "maxUploadsInFlightBytes", 1, 65_536, mb],
    ["IMAGEGATE_UPSTREAM_MAX_BODY_MB", "upstreamMaxBodyBytes", 1, 1024, mb],
    ["IMAGEGATE_MAX_RESULT_MB", "maxResultBytes", 1, 2048, mb],
    ["IMAGEGATE_BODY_TIMEOUT_MS", "bodyTimeoutMs", 1_000, 600_000, 1],
    ["IMAGEGATE_MAX_CONNECTIONS", "maxConnections", 1, 1_000_000, 1],
  ] as const)("%s takes %i to %i and nothing outside", (name, field, min, max, unit) => {
    expect(loadConfig({ [name]: String(min) })[field]).toBe(min * unit);
    expect(loadConfig({ [name]: String(max) })[field]).toBe(max * unit);
    for (const value of [String(min - 1), String(max + 1), "-1", "1.5", "1e3", "lots"]) {
      const err = configError({ [name]: value });
      expect(err.variable, `${name}=${value}`).toBe(name);
      expect(err.message.startsWith(`invalid configuration: ${name} `)).toBe(true);
    }
  });

  it("ignores unrelated variables", () => {
    expect(loadConfig({ PATH: "/bin", IMAGEGATE_UNKNOWN: "x" }).port).toBe(8080);
  });
});

describe("loadConfig treats empty strings as unset", () => {
  const names = [
    "PORT",
    "HOST",
    "LOG_LEVEL",
    "IMAGEGATE_UPSTREAM_URL",
    "IMAGEGATE_UPSTREAM_KEY",
    "IMAGEGATE_DATA_DIR",
    "IMAGEGATE_PUBLIC_URL",
    "IMAGEGATE_ADMIN_TOKEN",
    "IMAGEGATE_MASTER_KEY",
    "IMAGEGATE_MAX_WAIT_MS",
    "IMAGEGATE_URL_TTL_SECONDS",
    "IMAGEGATE_MAX_BODY_MB",
    "IMAGEGATE_MAX_UPLOAD_TOTAL_MB",
    "IMAGEGATE_MAX_UPLOADS_IN_FLIGHT_MB",
    "IMAGEGATE_UPSTREAM_MAX_BODY_MB",
    "IMAGEGATE_MAX_RESULT_MB",
    "IMAGEGATE_BODY_TIMEOUT_MS",
    "IMAGEGATE_MAX_CONNECTIONS",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SERVICE_NAME",
  ];

  it.each(["", "   ", "\t\n"])("all variables set to %j give the defaults", (value) => {
    const env = Object.fromEntries(names.map((name) => [name, value]));
    expect(loadConfig(env)).toEqual(loadConfig({}));
  });
});

describe("loadConfig master key", () => {
  it("accepts 32 bytes in base64, base64url or without padding", () => {
    for (const encoded of [
      masterKey.toString("base64"),
      masterKey.toString("base64url"),
      masterKey.toString("base64").replace(/=+$/, ""),
    ]) {
      const config = loadConfig({ IMAGEGATE_MASTER_KEY: encoded });
      expect(config.masterKey?.equals(masterKey)).toBe(true);
    }
  });

  it.each([
    ["31 bytes", randomBytes(31).toString("base64")],
    ["33 bytes", randomBytes(33).toString("base64")],
    ["16 bytes", randomBytes(16).toString("base64")],
    ["64 bytes", randomBytes(64).toString("base64")],
    ["32 bytes in hex (openssl rand -hex 32)", randomBytes(32).toString("hex")],
    ["not base64", `${masterKey.toString("base64").slice(0, 40)}!!!!`],
    ["a passphrase", "correct horse battery staple"],
    [
      "padding inside",
      `${masterKey.toString("base64").slice(0, 20)}=${masterKey.toString("base64").slice(21)}`,
    ],
  ])("rejects %s without echoing it", (_name, value) => {
    const err = configError({ IMAGEGATE_MASTER_KEY: value });
    expect(err.variable).toBe("IMAGEGATE_MASTER_KEY");
    expect(err.message).toContain("IMAGEGATE_MASTER_KEY");
    expect(err.message).toContain("32 bytes");
    expect(err.message).not.toContain(value);
    expect(err.message).not.toContain(value.slice(0, 8));
  });
});

describe("loadConfig errors", () => {
  it.each([
    ["PORT", "http"],
    ["PORT", "-1"],
    ["PORT", "65536"],
    ["PORT", "80.5"],
    ["PORT", "8080abc"],
    ["LOG_LEVEL", "verbose"],
    ["LOG_LEVEL", "INFO-ish"],
    ["IMAGEGATE_UPSTREAM_URL", "www.zexitongxue.com"],
    ["IMAGEGATE_UPSTREAM_URL", "ftp://files.example.com"],
    ["IMAGEGATE_PUBLIC_URL", "localhost:8080"],
    ["IMAGEGATE_PUBLIC_URL", "javascript:alert(1)"],
    ["IMAGEGATE_ADMIN_TOKEN", "short-secret-tk"],
    ["IMAGEGATE_MAX_WAIT_MS", "999"],
    ["IMAGEGATE_MAX_WAIT_MS", "3600001"],
    ["IMAGEGATE_MAX_WAIT_MS", "9m"],
    ["IMAGEGATE_MAX_WAIT_MS", "1e6"],
    ["IMAGEGATE_URL_TTL_SECONDS", "59"],
    ["IMAGEGATE_URL_TTL_SECONDS", "2592001"],
    ["IMAGEGATE_MAX_BODY_MB", "0"],
    ["IMAGEGATE_MAX_BODY_MB", "513"],
    ["IMAGEGATE_REFERENCE_DELIVERY", "ftp"],
    ["IMAGEGATE_MAX_UPLOAD_MB", "0"],
    ["IMAGEGATE_VARIATION_MODEL", "dall-e-9"],
    ["IMAGEGATE_VARIATION_MODEL", "grok-imagine-image-lite"],
    ["IMAGEGATE_MASKS", "ignore"],
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"],
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "grpc://collector:4317"],
    ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4318/v1/traces"],
  ])("%s=%j is one line naming the variable", (name, value) => {
    const err = configError({ [name]: value });
    expect(err.name).toBe("ConfigError");
    expect(err.variable).toBe(name);
    expect(err.message.startsWith(`invalid configuration: ${name} `)).toBe(true);
    expect(err.message).not.toMatch(/[\r\n]/);
    if (value.length >= 4) expect(err.message).not.toContain(value);
  });

  it("never echoes a secret that is too short", () => {
    const token = "tok-9f8e7d6c5b";
    const err = configError({ IMAGEGATE_ADMIN_TOKEN: token });
    expect(err.message).not.toContain(token);
    expect(String(err.stack)).not.toContain(token);
    expect(JSON.stringify(err)).not.toContain(token);
  });

  it("names the bad variable even when others are valid", () => {
    const err = configError({
      PORT: "3000",
      IMAGEGATE_UPSTREAM_KEY: "sk-upstream-secret",
      IMAGEGATE_MAX_BODY_MB: "lots",
    });
    expect(err.variable).toBe("IMAGEGATE_MAX_BODY_MB");
    expect(err.message).not.toContain("sk-upstream-secret");
  });

  it.each([
    ["a space", "0123456789 abcdef0123"],
    ["a tab", "0123456789\tabcdef0123"],
    ["a newline", "0123456789abcdef\n0123"],
    ["a non-breaking space", "0123456789\u00a0abcdef0123"],
  ])("refuses an admin token with %s inside, without echoing it", (_name, token) => {
    // A Bearer header cannot carry it: such a token could never be presented.
    const err = configError({ IMAGEGATE_ADMIN_TOKEN: token });
    expect(err.variable).toBe("IMAGEGATE_ADMIN_TOKEN");
    expect(err.message).toContain("whitespace");
    expect(err.message).not.toContain(token.slice(0, 10));
  });

  it("still trims whitespace around the admin token", () => {
    expect(loadConfig({ IMAGEGATE_ADMIN_TOKEN: "  0123456789abcdef0123\n" }).adminToken).toBe(
      "0123456789abcdef0123",
    );
  });

  it("accepts an admin token of 16 characters", () => {
    expect(loadConfig({ IMAGEGATE_ADMIN_TOKEN: "0123456789abcdef" }).adminToken).toBe(
      "0123456789abcdef",
    );
  });
});
