/**
 * The Kubernetes manifests (deploy/k8s) parsed and checked against the service: the container
 * starts `serve` with flags and COMPACTD_* variables the service accepts, its ports are the ones
 * the service binds, the probes ask the gRPC health service for services the server registers,
 * a draining replica is neither killed by its liveness probe nor by the termination grace period,
 * the memory limit holds the engine's memory bound per worker, and the Service, PodDisruptionBudget
 * and HorizontalPodAutoscaler select and target the Deployment. The docs may only name metrics and
 * variables that exist.
 */
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseFlags } from '../../src/cli/args.js';
import { HEALTH_FLAGS } from '../../src/cli/health.js';
import { COMMANDS } from '../../src/cli/main.js';
import { envName } from '../../src/config/env.js';
import { OPTIONS, parseServeOptions, type ServeOptions } from '../../src/config/options.js';
import { createMetrics } from '../../src/obs/metrics.js';
import { HEALTH_SERVICES } from '../../src/service/server.js';
import { ROOT } from '../helpers/cli.js';
import { dockerInstructions, loadYaml, loadYamlDocuments, quantity, repoText } from './files.js';

const DIR = 'deploy/k8s';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}
interface Probe {
  grpc?: { port: number; service?: string };
  exec?: { command: string[] };
  periodSeconds?: number;
  failureThreshold?: number;
  timeoutSeconds?: number;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    resourceFieldRef?: { resource: string; divisor?: string; containerName?: string };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
  };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
}

const kustomization = loadYaml<{ resources: string[]; images?: { name: string }[] }>(`${DIR}/kustomization.yaml`);
const objects: K8sObject[] = kustomization.resources.flatMap((f) => loadYamlDocuments(`${DIR}/${f}`) as K8sObject[]);
const byKind = (kind: string): K8sObject => {
  const found = objects.filter((o) => o.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0];
};
const deployment = () => byKind('Deployment');
const template = () => (deployment().spec.template as { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec });
const container = () => template().spec.containers.find((c) => c.name === 'compactd')!;
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The container's environment with downward-API values resolved from its own resources. */
function containerEnv(c: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    const ref = e.valueFrom?.resourceFieldRef;
    if (ref) {
      const [kind, resource] = ref.resource.split('.') as ['limits' | 'requests', string];
      // The kubelet rounds up to whole divisors.
      env[e.name] = String(Math.ceil(quantity(c.resources![kind]![resource]) / quantity(ref.divisor ?? '1')));
    }
  }
  return env;
}

function serveOptions(): ServeOptions {
  const c = container();
  const args = [...(c.command ?? []), ...(c.args ?? [])];
  expect(args[0]).toBe('serve');
  return parseServeOptions(args.slice(1), containerEnv(c));
}

describe('deploy/k8s', () => {
  it('lists every manifest of the folder in kustomization.yaml, and its image is the Deployment\'s', () => {
    const files = readdirSync(path.join(ROOT, DIR)).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
    expect(kustomization.images?.map((i) => i.name)).toContain(container().image);
    for (const kind of ['Deployment', 'Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler']) byKind(kind);
  });

  it('starts serve with flags and COMPACTD_* variables the service accepts, on every interface', () => {
    const unknown = (container().env ?? []).map((e) => e.name).filter((n) => n.startsWith('COMPACTD_') && !OPTIONS.some((o) => envName(o.flag) === n));
    expect(unknown).toEqual([]);
    const opts = serveOptions();
    expect(['0.0.0.0', '::']).toContain(opts.host);
    expect(opts.blob).toMatch(/^s3:\/\//);
    const ports = Object.fromEntries((container().ports ?? []).map((p) => [p.name, p.containerPort]));
    expect(ports).toEqual({ grpc: opts.port, metrics: opts.metricsPort });
    expect(template().metadata.annotations?.['prometheus.io/port']).toBe(String(opts.metricsPort));
  });

  it('probes the gRPC health service on the gRPC port, for services the server registers', () => {
    const opts = serveOptions();
    const c = container();
    for (const [name, probe] of Object.entries({ startup: c.startupProbe, readiness: c.readinessProbe, liveness: c.livenessProbe })) {
      expect(probe, name).toBeDefined();
      if (probe!.grpc) {
        expect(probe!.grpc.port, name).toBe(opts.port);
        expect(HEALTH_SERVICES as readonly string[], name).toContain(probe!.grpc.service ?? '');
      } else {
        const cmd = probe!.exec!.command;
        const at = cmd.indexOf('health');
        expect(COMMANDS.map((x) => x.name)).toContain(cmd[at]);
        parseFlags(cmd.slice(at + 1), HEALTH_FLAGS, 'health');
      }
    }
  });

  it('lets a draining replica finish: liveness and termination grace outlast --grace-seconds', () => {
    const opts = serveOptions();
    const live = container().livenessProbe!;
    expect((live.periodSeconds ?? 10) * (live.failureThreshold ?? 3)).toBeGreaterThan(opts.graceSeconds);
    expect(template().spec.terminationGracePeriodSeconds ?? 30).toBeGreaterThan(opts.graceSeconds);
  });

  it('gives every worker its memory bound inside the memory limit', () => {
    const opts = serveOptions();
    const limit = quantity(container().resources!.limits!.memory);
    expect(Math.max(opts.workers, opts.concurrencyLimit) * opts.memoryBoundBytes).toBeLessThan(limit);
    expect(container().resources!.requests!.cpu).toBeDefined();
  });

  it('runs as the non-root user of the image', () => {
    const sc = template().spec.securityContext!;
    expect(sc.runAsNonRoot).toBe(true);
    const user = dockerInstructions(repoText('Dockerfile')).filter((i) => i.keyword === 'USER').at(-1)!.text.split(':')[0];
    expect(String(sc.runAsUser)).toBe(user);
  });

  it('publishes ready replicas through a headless Service on the container ports', () => {
    const svc = byKind('Service');
    expect(svc.spec.clusterIP).toBe('None');
    expect(svc.spec.publishNotReadyAddresses ?? false).toBe(false);
    expect(matches(svc.spec.selector as Record<string, string>, template().metadata.labels)).toBe(true);
    const containerPorts = new Map((container().ports ?? []).map((p) => [p.name, p.containerPort]));
    for (const p of svc.spec.ports as { name: string; port: number; targetPort: string | number }[]) {
      const target = typeof p.targetPort === 'number' ? p.targetPort : containerPorts.get(p.targetPort);
      expect(target, p.name).toBe(p.port);
      expect([...containerPorts.values()]).toContain(target);
    }
  });

  it('limits voluntary disruptions to fewer replicas than run', () => {
    const pdb = byKind('PodDisruptionBudget');
    expect(matches((pdb.spec.selector as { matchLabels: Record<string, string> }).matchLabels, template().metadata.labels)).toBe(true);
    const replicas = deployment().spec.replicas as number;
    const unavailable = pdb.spec.maxUnavailable as number | undefined;
    const available = pdb.spec.minAvailable as number | undefined;
    expect(unavailable !== undefined ? unavailable < replicas && unavailable >= 1 : available! < replicas).toBe(true);
  });

  describe('autoscaling', () => {
    let queueDepth: string;
    beforeAll(async () => {
      queueDepth = (await createMetrics({ processMetrics: false }).queueDepth.get()).name;
    });

    it('scales the Deployment on CPU, and notes the queue-depth metric by its real name', () => {
      const hpa = byKind('HorizontalPodAutoscaler');
      expect(hpa.apiVersion).toBe('autoscaling/v2');
      expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: deployment().metadata.name });
      const metrics = hpa.spec.metrics as { type: string; resource?: { name: string } }[];
      expect(metrics.some((m) => m.type === 'Resource' && m.resource?.name === 'cpu')).toBe(true);
      expect((hpa.spec.minReplicas as number) <= (hpa.spec.maxReplicas as number)).toBe(true);
      expect(repoText(`${DIR}/hpa.yaml`)).toContain(queueDepth);
      expect(repoText('README.md')).toContain(queueDepth);
    });
  });

  it('docs name only metrics and COMPACTD_* variables that exist', async () => {
    const names = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    const env = new Set(OPTIONS.map((o) => envName(o.flag)));
    const problems: string[] = [];
    for (const doc of ['README.md', `${DIR}/README.md`]) {
      const text = repoText(doc);
      for (const m of text.matchAll(/\bcompactd_[a-z0-9_]+/g)) {
        if (!names.has(m[0].replace(/_(bucket|sum|count)$/, ''))) problems.push(`${doc}: ${m[0]}`);
      }
      for (const m of text.matchAll(/\bCOMPACTD_[A-Z0-9_]+/g)) {
        if (!env.has(m[0])) problems.push(`${doc}: ${m[0]}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
