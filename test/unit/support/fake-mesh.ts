/**
 * A mesh simulated over the strict FakeKube, for rotation tests: istiod loads cacerts when it changes (multi-root
 * hot reload) and publishes its roots into every namespace's istio-ca-root-cert; each sidecar holds the trust
 * bundle and the signer it got at its last certificate (pod creation, or a push when PROXY_CONFIG_XDS_AGENT is
 * on); a restart replaces every sidecar pod with new ones that get certificates from istiod as it is then.
 */
import type { BundleData } from '../../../src/ca/bundle.js';
import { bundleFromSecret, pemFingerprints } from '../../../src/istio/secret-bundle.js';
import { Resources, type ConfigMap, type Pod, type Secret } from '../../../src/kube/resources.js';
import type { ProxyReader, ProxyReading } from '../../../src/proxies/read.js';
import { deployment, FakeClock, FakeKube, podsOf } from './fake-kube.js';

export interface FakeMeshOptions {
  cacerts: BundleData;
  /** PROXY_CONFIG_XDS_AGENT=true in the mesh config. */
  push?: boolean;
  /** How proxies answer reads: their certificates, 403 on pods/exec, or an exec error. */
  exec?: 'ok' | 'forbidden' | 'error';
  /** With push: whether the push really reaches proxies (false models Envoy not connected). */
  pushReaches?: boolean;
  multiRoot?: boolean;
  image?: string;
  workloads?: number;
  /** istiod's namespace controller writes istio-ca-root-cert this long after a reload (default: at once). */
  publishDelayMs?: number;
  /** The Istio control plane's namespace (-i); istio-system by default. */
  istioNamespace?: string;
}

const enc = (b: BundleData) => Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v.toString('base64')]));

export class FakeMesh {
  /** Starts now: the test CAs are issued now and are not valid before. */
  readonly clock = new FakeClock(new Date());
  readonly kube: FakeKube;
  /** pod name -> what its agent holds. */
  readonly proxies = new Map<string, { roots: string[]; chain: string[] }>();
  readonly restarts: string[] = [];
  /** signer fingerprint -> the root it chains to, to judge handshakes. */
  readonly signerRoots = new Map<string, string>();
  /** Most proxy pairs at once that would fail an mTLS handshake (a leaf whose root the peer does not trust). */
  maxBroken = 0;
  /** istiod's loaded CA: root file and signer fingerprint. */
  loaded: { roots: Buffer; signer: string };
  private generation = 0;
  /** When a late publish (publishDelayMs) is due, epoch ms. */
  private publishAt: number | null = null;
  /** The Istio control plane's namespace. */
  readonly ns: string;

  constructor(readonly opts: FakeMeshOptions) {
    this.kube = new FakeKube({ now: this.clock.now });
    this.ns = opts.istioNamespace ?? 'istio-system';
    const ns = this.ns;
    const roots = opts.cacerts['root-cert.pem'] ?? opts.cacerts['ca.crt'] ?? Buffer.alloc(0);
    const signer = pemFingerprints(opts.cacerts['ca-cert.pem'] ?? opts.cacerts['tls.crt'])[0] ?? '';
    this.loaded = { roots, signer };
    this.kube.seed(Resources.namespaces, { metadata: { name: ns } }, { metadata: { name: 'shop' } });
    this.kube.seed(Resources.secrets, {
      metadata: { name: 'cacerts', namespace: ns },
      type: 'Opaque',
      data: enc(opts.cacerts),
    });
    this.kube.seed(Resources.configmaps, {
      metadata: { name: 'istio', namespace: ns },
      data: {
        mesh: opts.push
          ? 'defaultConfig:\n  proxyMetadata:\n    PROXY_CONFIG_XDS_AGENT: "true"\n'
          : 'defaultConfig: {}\n',
      },
    });
    const istiod = deployment(ns, 'istiod', { labels: { app: 'istiod' } });
    const c = istiod.spec?.template?.spec?.containers?.[0];
    if (c) {
      c.name = 'discovery';
      (c as { image?: string }).image = opts.image ?? 'docker.io/istio/pilot:1.28.0';
      c.env = [{ name: 'ISTIO_MULTIROOT_MESH', value: String(opts.multiRoot ?? true) }];
    }
    this.kube.seed(Resources.deployments, istiod);
    this.seedIstiodPod();
    for (let i = 0; i < (opts.workloads ?? 2); i++) {
      const w = deployment('shop', `web${i}`, { replicas: 2, templateSidecar: 'annotation' });
      this.kube.seed(Resources.deployments, w);
    }
    this.publish();
    this.replaceSidecars();
    this.clock.onAdvance((now) => {
      if (this.publishAt === null || now < this.publishAt) return;
      this.publishAt = null;
      this.publish();
    });
    this.kube.onWrite((type, stored) => {
      if (type.plural !== 'secrets' || stored.metadata.name !== 'cacerts') return;
      this.reload(bundleFromSecret(stored));
    });
  }

  private seedIstiodPod(): void {
    const d = this.kube.object(Resources.deployments, this.ns, 'istiod');
    if (!d) return;
    for (const p of this.kube.objects<Pod>(Resources.pods, this.ns))
      this.kube.remove(Resources.pods, this.ns, p.metadata.name);
    const pod = podsOf(d, { count: 1 })[0];
    if (!pod) return;
    pod.metadata.name = `istiod-${++this.generation}`;
    pod.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
    this.kube.seed(Resources.pods, pod);
  }

  /** istiod's hot reload (multi-root: root file changes accepted), then its namespace controller. */
  private reload(b: BundleData): void {
    const roots = b['root-cert.pem'] ?? b['ca.crt'] ?? Buffer.alloc(0);
    const certFile = b['ca-cert.pem'] ?? b['tls.crt'];
    const rootsChanged = !roots.equals(this.loaded.roots);
    this.loaded = { roots, signer: pemFingerprints(certFile)[0] ?? '' };
    if (this.opts.publishDelayMs) this.publishAt = this.clock.now().getTime() + this.opts.publishDelayMs;
    else this.publish();
    if (this.opts.push && rootsChanged && this.opts.pushReaches !== false) {
      const fps = [...new Set(pemFingerprints(roots))];
      for (const p of this.proxies.values()) {
        p.roots = fps;
        p.chain = ['leaf', this.loaded.signer];
      }
    }
    this.observe();
  }

  /** Writes cacerts as someone else would (no plugin): istiod reloads it. */
  writeCacerts(b: BundleData): void {
    const s = this.kube.object<Secret>(Resources.secrets, this.ns, 'cacerts');
    if (!s) return;
    this.kube.remove(Resources.secrets, this.ns, 'cacerts');
    this.kube.seed(Resources.secrets, { ...s, data: enc(b) });
    this.reload(b);
  }

  /** A rolling restart of the sidecars only (what a recipe does by hand). */
  restartSidecars(): void {
    this.replaceSidecars();
  }

  private publish(): void {
    for (const ns of [this.ns, 'shop']) {
      this.kube.remove(Resources.configmaps, ns, 'istio-ca-root-cert');
      const cm: ConfigMap = {
        metadata: { name: 'istio-ca-root-cert', namespace: ns, labels: { 'istio.io/config': 'true' } },
        data: { 'root-cert.pem': this.loaded.roots.toString('utf8') },
      };
      this.kube.seed(Resources.configmaps, cm);
    }
  }

  /** Proxy pairs that fail a handshake now, either direction. */
  broken(): number {
    const all = [...this.proxies.values()];
    let n = 0;
    for (const a of all)
      for (const b of all) {
        const root = this.signerRoots.get(a.chain[1] ?? '');
        if (!root || !b.roots.includes(root)) n++;
      }
    return n;
  }

  private observe(): void {
    this.maxBroken = Math.max(this.maxBroken, this.broken());
  }

  /** New pods for every sidecar workload, one workload after another (a rolling restart), with certificates from
   * istiod as it is now; handshakes are judged after each workload. */
  private replaceSidecars(): void {
    const gen = ++this.generation;
    for (const w of this.kube.objects(Resources.deployments, 'shop')) {
      for (const p of this.kube.objects<Pod>(Resources.pods, 'shop')) {
        if (!p.metadata.name.startsWith(`${w.metadata.name}-`)) continue;
        this.kube.remove(Resources.pods, 'shop', p.metadata.name);
        this.proxies.delete(p.metadata.name);
      }
      const pods = podsOf(w, { sidecar: 'annotation' });
      pods.forEach((p, i) => {
        p.metadata.name = `${w.metadata.name}-g${gen}-${i}`;
        this.proxies.set(p.metadata.name, {
          roots: [...new Set(pemFingerprints(this.loaded.roots))],
          chain: ['leaf', this.loaded.signer],
        });
      });
      this.kube.seed(Resources.pods, ...pods);
      this.observe();
    }
  }

  /** What rotate's restart does here: istiod first (it loads cacerts at start), then the sidecars. */
  restart = async (scope: 'control-plane' | 'all'): Promise<number> => {
    this.restarts.push(scope);
    this.clock.advance(1000);
    const s = this.kube.object<Secret>(Resources.secrets, this.ns, 'cacerts');
    if (s) this.reload(bundleFromSecret(s));
    this.seedIstiodPod();
    if (scope === 'control-plane') return 1;
    this.clock.advance(1000);
    this.replaceSidecars();
    return 1 + this.kube.objects(Resources.deployments, 'shop').length;
  };

  reader: ProxyReader = {
    read: async (namespace, pod): Promise<ProxyReading> => {
      if (this.opts.exec === 'forbidden')
        return { namespace, pod, ok: false, forbidden: true, error: 'forbidden: create pods/exec' };
      const certs = this.proxies.get(pod);
      if (this.opts.exec === 'error' || !certs)
        return { namespace, pod, ok: false, forbidden: false, error: 'exec target not found' };
      return { namespace, pod, ok: true, certs: { roots: [...certs.roots], chain: [...certs.chain] } };
    },
  };
}
