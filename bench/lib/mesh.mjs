// The objects of the benchmark's mesh: namespaces with istio-ca-root-cert, sidecar pods shaped as
// `istioctl kube-inject` leaves them (as in test/fixtures/mesh.yaml), Deployments to restart, and istiod.

export const SIDECAR_STATUS =
  '{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["workload-socket","credential-socket","workload-certs","istio-envoy","istio-data","istio-podinfo","istio-token","istiod-ca-cert"],"imagePullSecrets":null,"revision":"default"}';

/** Pod metadata and spec of an injected workload named `app` (containers app + istio-proxy, init istio-init). */
export function injectedPodTemplate(app) {
  return {
    metadata: {
      labels: {
        app,
        version: 'v1',
        'security.istio.io/tlsMode': 'istio',
        'service.istio.io/canonical-name': app,
        'service.istio.io/canonical-revision': 'v1',
        'istio.io/rev': 'default',
      },
      annotations: {
        'sidecar.istio.io/status': SIDECAR_STATUS,
        'kubectl.kubernetes.io/default-container': app,
        'prometheus.io/path': '/stats/prometheus',
        'prometheus.io/port': '15020',
        'prometheus.io/scrape': 'true',
      },
    },
    spec: {
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 0,
      initContainers: [
        {
          name: 'istio-init',
          image: 'docker.io/istio/proxyv2:1.28.0',
          args: [
            'istio-iptables',
            '-p',
            '15001',
            '-z',
            '15006',
            '-u',
            '1337',
            '-m',
            'REDIRECT',
            '-i',
            '*',
            '-x',
            '',
            '-b',
            '*',
            '-d',
            '15090,15021,15020',
          ],
          resources: { requests: { cpu: '10m', memory: '40Mi' } },
        },
      ],
      containers: [
        {
          name: app,
          image: 'docker.io/library/nginx:1.27',
          ports: [{ containerPort: 8080, name: 'http' }],
          resources: { requests: { cpu: '10m', memory: '32Mi' } },
        },
        {
          name: 'istio-proxy',
          image: 'docker.io/istio/proxyv2:1.28.0',
          args: [
            'proxy',
            'sidecar',
            '--domain',
            '$(POD_NAMESPACE).svc.cluster.local',
            '--proxyLogLevel=warning',
            '--log_output_level=default:info',
          ],
          env: [
            { name: 'PILOT_CERT_PROVIDER', value: 'istiod' },
            { name: 'CA_ADDR', value: 'istiod.istio-system.svc:15012' },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'ISTIO_META_CLUSTER_ID', value: 'Kubernetes' },
          ],
          ports: [{ containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' }],
          readinessProbe: { httpGet: { path: '/healthz/ready', port: 15021 }, periodSeconds: 15 },
          resources: { requests: { cpu: '10m', memory: '40Mi' } },
          securityContext: { runAsUser: 1337, runAsGroup: 1337 },
          volumeMounts: [
            { name: 'workload-socket', mountPath: '/var/run/secrets/workload-spiffe-uds' },
            { name: 'credential-socket', mountPath: '/var/run/secrets/credential-uds' },
            { name: 'workload-certs', mountPath: '/var/run/secrets/workload-spiffe-credentials' },
            { name: 'istiod-ca-cert', mountPath: '/var/run/secrets/istio' },
            { name: 'istio-data', mountPath: '/var/lib/istio/data' },
            { name: 'istio-envoy', mountPath: '/etc/istio/proxy' },
            { name: 'istio-podinfo', mountPath: '/etc/istio/pod' },
          ],
        },
      ],
      volumes: [
        { name: 'workload-socket', emptyDir: {} },
        { name: 'credential-socket', emptyDir: {} },
        { name: 'workload-certs', emptyDir: {} },
        { name: 'istio-envoy', emptyDir: { medium: 'Memory' } },
        { name: 'istio-data', emptyDir: {} },
        {
          name: 'istio-podinfo',
          downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] },
        },
        { name: 'istiod-ca-cert', configMap: { name: 'istio-ca-root-cert' } },
      ],
    },
  };
}

/** A pod nobody owns, bound to a kwok node directly (no scheduler). */
export function barePod(namespace, name, node) {
  const t = injectedPodTemplate(name);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, ...t.metadata },
    spec: { ...t.spec, nodeName: node },
  };
}

export function deployment(namespace, name, replicas) {
  const t = injectedPodTemplate(name);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { app: name, version: 'v1' } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name, version: 'v1' } },
      strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: t,
    },
  };
}

/** istiod as the fixture mesh has it (label app=istiod, mounts the optional cacerts secret). */
export function istiod(namespace, replicas) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'istiod',
      namespace,
      labels: { app: 'istiod', istio: 'pilot', 'istio.io/rev': 'default', release: 'istio' },
    },
    spec: {
      replicas,
      selector: { matchLabels: { istio: 'pilot' } },
      strategy: { rollingUpdate: { maxSurge: '100%', maxUnavailable: '25%' } },
      template: {
        metadata: {
          labels: { app: 'istiod', istio: 'pilot', 'istio.io/rev': 'default', 'sidecar.istio.io/inject': 'false' },
        },
        spec: {
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 0,
          containers: [
            {
              name: 'discovery',
              image: 'docker.io/istio/pilot:1.28.0',
              args: [
                'discovery',
                '--monitoringAddr=:15014',
                '--log_output_level=default:info',
                '--domain',
                'cluster.local',
              ],
              env: [
                { name: 'REVISION', value: 'default' },
                { name: 'PILOT_CERT_PROVIDER', value: 'istiod' },
                { name: 'ISTIO_MULTIROOT_MESH', value: 'true' },
              ],
              ports: [{ containerPort: 15010 }, { containerPort: 15012 }, { containerPort: 15017 }],
              volumeMounts: [{ name: 'cacerts', mountPath: '/etc/cacerts', readOnly: true }],
            },
          ],
          volumes: [{ name: 'cacerts', secret: { secretName: 'cacerts', optional: true } }],
        },
      },
    },
  };
}

export function rootConfigMap(namespace, rootPem) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'istio-ca-root-cert', namespace, labels: { 'istio.io/config': 'true' } },
    data: { 'root-cert.pem': rootPem },
  };
}
