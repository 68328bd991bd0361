import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { loadSettings } from '../../../src/config/load.js';
import { loadRoutesFile } from '../../../src/routes/load.js';
import { projectRoot } from '../../support/thumbtack.js';

/*
 * examples/deploy is not run here (no Docker daemon, no Kubernetes): these checks keep
 * its files agreeing with thumbtack itself — settings, ports, endpoints, routes, grace.
 */

const deployDir = path.join(projectRoot, 'examples/deploy');
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The settings a container gets from its args and env (THUMBTACK_*), as thumbtack reads them. */
function containerSettings(args: string[], env: Record<string, string>) {
  // The image's own ENV (Dockerfile).
  const imageEnv = { THUMBTACK_BIND_ALL: 'true' };
  return loadSettings(args, { ...imageEnv, ...env }).settings;
}

function routesParse(text: string): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-deploy-'));
  try {
    const file = path.join(dir, 'routes');
    fs.writeFileSync(file, text);
    expect(loadRoutesFile(file).table.routes.length).toBeGreaterThan(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('Kubernetes manifests', () => {
  const docs = parseAllDocuments(
    fs.readFileSync(path.join(deployDir, 'kubernetes/thumbtack.yaml'), 'utf8'),
  ).map((doc) => doc.toJS() as Doc);
  const byKind = (kind: string): Doc => docs.find((doc) => doc['kind'] === kind)!;
  const deployment = byKind('Deployment');
  const pod = deployment['spec']['template'];
  const container = pod['spec']['containers'][0];
  const env = Object.fromEntries(
    (container['env'] as { name: string; value: string }[]).map((e) => [e.name, e.value]),
  );
  const settings = containerSettings(container['args'], env);
  const portNamed = (name: string): number =>
    container['ports'].find((p: Doc) => p['name'] === name)['containerPort'];

  it('has a ConfigMap, Deployment, Service and PodDisruptionBudget', () => {
    expect(docs.map((doc) => doc['kind']).sort()).toEqual([
      'ConfigMap',
      'Deployment',
      'PodDisruptionBudget',
      'Service',
    ]);
  });

  it('probes /readyz and /healthz on the port the control API listens on, reachable from the kubelet', () => {
    expect(container['readinessProbe']['httpGet']['path']).toBe('/readyz');
    expect(container['livenessProbe']['httpGet']['path']).toBe('/healthz');
    for (const probe of ['readinessProbe', 'livenessProbe']) {
      expect(portNamed(container[probe]['httpGet']['port'])).toBe(settings.controlPort);
    }
    expect(portNamed('http')).toBe(settings.port);
    expect(settings.controlHost).toBe('0.0.0.0');
  });

  it('tells Prometheus to scrape /metrics on the control port', () => {
    const annotations = pod['metadata']['annotations'];
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(annotations['prometheus.io/path']).toBe('/metrics');
    expect(Number(annotations['prometheus.io/port'])).toBe(settings.controlPort);
    expect(settings.metrics).toBe(true);
  });

  it('mounts a routes file that thumbtack parses, where --routes points', () => {
    const mount = container['volumeMounts'][0];
    const volume = pod['spec']['volumes'].find((v: Doc) => v['name'] === mount['name']);
    const configMap = docs.find(
      (doc) =>
        doc['kind'] === 'ConfigMap' && doc['metadata']['name'] === volume['configMap']['name'],
    )!;
    const [key] = Object.keys(configMap['data']);
    expect(path.join(mount['mountPath'], key!)).toBe(settings.routes);
    routesParse(configMap['data'][key!]);
  });

  it('gives a stopping pod longer than its drain, and its Service and budget select its pods', () => {
    expect(pod['spec']['terminationGracePeriodSeconds']).toBeGreaterThan(settings.drainTimeout + 2);
    const labels = pod['metadata']['labels'];
    expect(labels).toMatchObject(deployment['spec']['selector']['matchLabels']);
    expect(labels).toMatchObject(byKind('Service')['spec']['selector']);
    expect(labels).toMatchObject(byKind('PodDisruptionBudget')['spec']['selector']['matchLabels']);
    const targets = byKind('Service')['spec']['ports'].map((p: Doc) => p['targetPort']);
    for (const target of targets) expect(() => portNamed(target)).not.toThrow();
    expect(settings.redis).toMatch(/^redis:\/\//);
  });
});

describe('docker-compose file', () => {
  const compose = parse(fs.readFileSync(path.join(deployDir, 'docker-compose.yml'), 'utf8')) as Doc;
  const nodes = ['node-a', 'node-b'].map((name) => compose['services'][name] as Doc);

  it('runs two thumbtack nodes on one Redis service, in front of the demo backend', () => {
    expect(Object.keys(compose['services']).sort()).toEqual([
      'backend',
      'node-a',
      'node-b',
      'redis',
    ]);
    const backend = compose['services']['backend'];
    expect(fs.existsSync(path.join(projectRoot, 'examples/demo/serve-backend.ts'))).toBe(true);
    expect(backend['entrypoint']).toEqual(['node', 'dist/examples/demo/serve-backend.js']);
    for (const node of nodes) {
      const settings = containerSettings(node['command'], node['environment']);
      expect(new URL(settings.redis).hostname).toBe('redis');
      // Each node publishes its client and control ports on distinct host ports.
      const published = (node['ports'] as string[]).map((p) => p.split(':').map(Number));
      expect(published.map(([, inner]) => inner).sort()).toEqual(
        [settings.port, settings.controlPort].sort(),
      );
      expect(parseInt(node['stop_grace_period'], 10)).toBeGreaterThan(settings.drainTimeout + 2);
      const [source, target] = (node['volumes'][0] as string).split(':');
      expect(target).toBe(settings.routes);
      const routes = fs.readFileSync(path.join(deployDir, source!), 'utf8');
      routesParse(routes);
      expect(routes).toContain(`backend:${backend['environment']['DEMO_PORT']}`);
    }
    const hostPorts = nodes.flatMap((node) => node['ports'].map((p: string) => p.split(':')[0]));
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
  });
});
