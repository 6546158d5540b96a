// The API floor as a program: a bare client that reads the kubeconfig, makes verify's requests (the same pages
// and Accept headers: metadata-only pages in protobuf, decoded item by item as the plugin decodes them; the rest
// JSON, parsed) and exits. Nothing else: no CLI, no checks, no output. Run by the benchmark with the Node.js that
// the packaged plugin embeds, timed from spawn to exit as the plugin is.
// Usage: node bench/api-floor-client.mjs KUBECONFIG [ISTIO_NAMESPACE]
import { Api, credentials } from './lib/api.mjs';

const [kubeconfig, ns = 'istio-system'] = process.argv.slice(2);
const META = {
  Accept:
    'application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,' +
    'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json',
};
const c = new Api(credentials(kubeconfig));
const counts = await Promise.all([
  c.req('GET', `/api/v1/namespaces/${ns}/secrets/cacerts`).then(() => 1),
  c.req('GET', `/api/v1/namespaces/${ns}/secrets/istio-ca-secret`).then(() => 1),
  c.list(`/apis/apps/v1/namespaces/${ns}/deployments`, 'labelSelector=app%3Distiod', {}, false).then(() => 1),
  c.list(`/api/v1/namespaces/${ns}/pods`, 'labelSelector=app%3Distiod', {}, false).then(() => 1),
  c.list('/api/v1/namespaces', '', META, false).then(() => 1),
  c.list('/api/v1/configmaps', 'fieldSelector=metadata.name%3Distio-ca-root-cert', {}, false).then(() => 1),
  c.list('/api/v1/pods', '', META, false).then(() => 1),
]);
c.close();
if (counts.length !== 7) process.exit(1);
