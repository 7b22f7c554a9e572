// docker-compose.yml's cluster profile, checked without a Docker engine: two
// identical replicas on the shared engines, configured with variables the
// gateway takes (each replica's environment, with compose's defaults filled
// in, goes through loadConfig), behind the load balancer that names both.
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig } from "../../src/config.js";

interface Service {
  profiles?: string[];
  image?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown> | string[];
}

const compose = parse(readFileSync("docker-compose.yml", "utf8"), { merge: true }) as {
  services: Record<string, Service>;
};

/** A compose value with `${VAR:-default}` as its default and `${VAR:?error}` as a placeholder. */
function interpolated(value: string): string {
  return value
    .replace(/\$\{[A-Z_]+:-([^}]*)\}/g, "$1")
    .replace(/\$\{([A-Z_]+):\?[^}]*\}/g, (_, name: string) =>
      name === "IMAGEGATE_MASTER_KEY"
        ? Buffer.alloc(32, 1).toString("base64")
        : "placeholder-0123456789abcdef",
    );
}

describe("docker compose --profile cluster", () => {
  const replicas = ["replica-1", "replica-2"].map((name) => compose.services[name] as Service);

  it("runs two identical replicas on PostgreSQL, Redis and MinIO", () => {
    for (const replica of replicas) {
      expect(replica.profiles).toEqual(["cluster"]);
      expect(Object.keys(replica.depends_on ?? {})).toEqual(
        expect.arrayContaining(["postgres", "redis", "minio-bucket"]),
      );
    }
    expect(replicas[1]?.environment).toEqual(replicas[0]?.environment);
    for (const name of ["lb", "postgres", "redis", "minio", "minio-bucket"]) {
      expect(compose.services[name]?.profiles).toEqual(["cluster"]);
    }
    // The single gateway is the default (no profile).
    expect(compose.services.imagegate?.profiles).toBeUndefined();
  });

  it("configures each replica with variables and values the gateway takes", () => {
    const env = Object.fromEntries(
      Object.entries(replicas[0]?.environment ?? {}).map(([name, value]) => [
        name,
        interpolated(String(value)),
      ]),
    );
    const config = loadConfig(env);
    expect(config.databaseUrl).toBe(
      "postgres://imagegate:placeholder-0123456789abcdef@postgres:5432/imagegate",
    );
    expect(config.redisUrl).toBe("redis://redis:6379");
    expect(config.s3).toEqual({
      bucket: "imagegate",
      endpoint: "http://minio:9000",
      region: "us-east-1",
      forcePathStyle: true,
      presignedUrls: false,
    });
    // Every IMAGEGATE_ variable given is one the configuration knows.
    const known = readFileSync("src/config.ts", "utf8");
    for (const name of Object.keys(env).filter((key) => key.startsWith("IMAGEGATE_"))) {
      expect(known, name).toContain(`${name}:`);
    }
  });

  it("balances over both replicas", () => {
    const nginx = readFileSync("deploy/nginx-cluster.conf", "utf8");
    expect(nginx).toMatch(/server replica-1:8080/);
    expect(nginx).toMatch(/server replica-2:8080/);
    // Synchronous generations wait up to 9 minutes behind it.
    expect(nginx).toMatch(/proxy_read_timeout 600s/);
  });
});

describe("docker compose --profile observability", () => {
  const services = ["prometheus", "grafana", "jaeger"].map(
    (name) => [name, compose.services[name] as Service & { volumes?: string[] }] as const,
  );

  it("runs Prometheus, Grafana and Jaeger beside the gateways, in its own profile", () => {
    for (const [name, service] of services)
      expect(service?.profiles, name).toEqual(["observability"]);
    for (const gateway of ["imagegate", "replica-1", "replica-2"]) {
      const environment = compose.services[gateway]?.environment ?? {};
      // Off unless set in .env: an empty value is no token and no exporter.
      for (const name of ["IMAGEGATE_METRICS_TOKEN", "OTEL_EXPORTER_OTLP_ENDPOINT"]) {
        expect(environment[name]).toBe(`\${${name}:-}`);
      }
      const config = loadConfig({
        ...Object.fromEntries(
          Object.entries(environment).map(([key, value]) => [key, interpolated(String(value))]),
        ),
      });
      expect(config.metricsToken).toBeUndefined();
    }
  });

  it("scrapes every gateway of the file with the metrics token, and mounts files that exist", () => {
    const prometheus = readFileSync("deploy/prometheus.yml", "utf8");
    for (const target of ["imagegate:8080", "replica-1:8080", "replica-2:8080"]) {
      expect(prometheus).toContain(target);
    }
    expect(prometheus).toMatch(/credentials_file: \/run\/secrets\/metrics_token/);
    for (const [, service] of services) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(":")[0] as string;
        if (source.startsWith("./")) expect(existsSync(source), source).toBe(true);
      }
    }
    const grafana = services.find(([name]) => name === "grafana")?.[1];
    expect(grafana?.volumes).toContain(
      "./deploy/grafana/imagegate-dashboard.json:/var/lib/grafana/dashboards/imagegate.json:ro",
    );
  });
});
