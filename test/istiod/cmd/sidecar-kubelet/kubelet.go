package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	certificatesv1beta1 "k8s.io/api/certificates/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

const rootCertConfigMap = "istio-ca-root-cert"

// kubelet tracks the labelled pods of its namespaces and runs one agent per live pod.
type kubelet struct {
	cfg config
	cs  kubernetes.Interface
	dyn dynamic.Interface

	mu        sync.Mutex
	pods      map[types.UID]*podRun
	rootCerts map[string][]byte // root source (rootSourceOf) -> root-cert.pem as last seen
	ports     map[int]bool
	wg        sync.WaitGroup
}

func newKubelet(c config, cs kubernetes.Interface, dyn dynamic.Interface) *kubelet {
	return &kubelet{cfg: c, cs: cs, dyn: dyn, pods: map[types.UID]*podRun{}, rootCerts: map[string][]byte{}, ports: map[int]bool{}}
}

func sortStrings(s []string) { sort.Strings(s) }

func (k *kubelet) run(ctx context.Context) error {
	// Pod directories are this process's own state: none survives from an earlier run.
	if err := os.RemoveAll(filepath.Join(k.cfg.stateDir, "pods")); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(k.cfg.stateDir, "pods"), 0o755); err != nil {
		return err
	}
	podFactory := informers.NewSharedInformerFactoryWithOptions(k.cs, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = Label }))
	cmFactory := informers.NewSharedInformerFactoryWithOptions(k.cs, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", rootCertConfigMap).String()
		}))
	podInf := podFactory.Core().V1().Pods().Informer()
	cmInf := cmFactory.Core().V1().ConfigMaps().Informer()
	synced := []cache.InformerSynced{podInf.HasSynced, cmInf.HasSynced}
	if k.cfg.clusterTrustBundles {
		// Cluster-scoped: istiod with ENABLE_CLUSTER_TRUST_BUNDLE_API writes its roots here instead of ConfigMaps.
		ctbFactory := informers.NewSharedInformerFactory(k.cs, 0)
		ctbInf := ctbFactory.Certificates().V1beta1().ClusterTrustBundles().Informer()
		_, _ = ctbInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { k.onClusterTrustBundle(o) },
			UpdateFunc: func(_, o any) { k.onClusterTrustBundle(o) },
		})
		ctbFactory.Start(ctx.Done())
		synced = append(synced, ctbInf.HasSynced)
	}

	_, _ = cmInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { k.onConfigMap(o) },
		UpdateFunc: func(_, o any) { k.onConfigMap(o) },
	})
	_, _ = podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { k.onPod(ctx, o) },
		UpdateFunc: func(_, o any) { k.onPod(ctx, o) },
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if p, ok := o.(*corev1.Pod); ok {
				k.stopPod(p.UID, "deleted")
			}
		},
	})
	podFactory.Start(ctx.Done())
	cmFactory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("caches did not sync")
	}
	log.Printf("watching pods labelled %s in %d namespace(s); agents: %s; istiod: %s", Label, len(k.cfg.namespaces), k.cfg.agentBin, k.cfg.discoveryAddress)
	_ = writeAtomic(filepath.Join(k.cfg.stateDir, "sidecar-kubelet.synced"), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
	<-ctx.Done()
	log.Printf("stopping every agent")
	k.mu.Lock()
	uids := make([]types.UID, 0, len(k.pods))
	for uid := range k.pods {
		uids = append(uids, uid)
	}
	k.mu.Unlock()
	var stops sync.WaitGroup
	for _, uid := range uids {
		stops.Add(1)
		go func() {
			defer stops.Done()
			k.stopPod(uid, "sidecar-kubelet stopping")
		}()
	}
	stops.Wait()
	k.wg.Wait()
	return nil
}

func (k *kubelet) onConfigMap(o any) {
	cm, ok := o.(*corev1.ConfigMap)
	if !ok || !k.cfg.namespaces[cm.Namespace] {
		return
	}
	k.onRootSource(configMapSource(cm.Namespace), []byte(cm.Data["root-cert.pem"]))
}

func (k *kubelet) onClusterTrustBundle(o any) {
	b, ok := o.(*certificatesv1beta1.ClusterTrustBundle)
	if !ok {
		return
	}
	k.onRootSource(clusterTrustBundleSource(b.Name), []byte(b.Spec.TrustBundle))
}

// onRootSource records a root source's bytes and, when they changed, remounts them into every pod that mounts it.
func (k *kubelet) onRootSource(src string, data []byte) {
	k.mu.Lock()
	first := k.rootCerts[src] == nil
	same := string(k.rootCerts[src]) == string(data)
	k.rootCerts[src] = data
	k.mu.Unlock()
	if first || same {
		return // a pod starting now mounts it as it is
	}
	// The kubelet refreshes a mounted ConfigMap (or projected ClusterTrustBundle) at its next sync, not at once.
	time.AfterFunc(k.cfg.mountDelay, func() {
		k.mu.Lock()
		runs := []*podRun{}
		for _, r := range k.pods {
			if r.rootSource == src {
				runs = append(runs, r)
			}
		}
		k.mu.Unlock()
		for _, r := range runs {
			r.mountRootCert(data)
		}
	})
}

func configMapSource(namespace string) string {
	return "configmap " + namespace + "/" + rootCertConfigMap
}
func clusterTrustBundleSource(name string) string { return "clustertrustbundle " + name }

// rootSourceOf is where the pod's istiod-ca-cert volume takes root-cert.pem from, as Istio's injection template
// mounts it: a projected clusterTrustBundle (ENABLE_CLUSTER_TRUST_BUNDLE_API) or the namespace's ConfigMap.
func rootSourceOf(p *corev1.Pod) string {
	for _, v := range p.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ClusterTrustBundle != nil && s.ClusterTrustBundle.Name != nil && s.ClusterTrustBundle.Path == "root-cert.pem" {
				return clusterTrustBundleSource(*s.ClusterTrustBundle.Name)
			}
		}
	}
	return configMapSource(p.Namespace)
}

func (k *kubelet) rootCert(src string) []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.rootCerts[src]
}

func (k *kubelet) onPod(ctx context.Context, o any) {
	p, ok := o.(*corev1.Pod)
	if !ok || !k.cfg.namespaces[p.Namespace] {
		return
	}
	if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		k.stopPod(p.UID, "terminating")
		return
	}
	k.mu.Lock()
	r := k.pods[p.UID]
	if r == nil {
		if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning {
			k.mu.Unlock()
			return // the kubelet starts containers once the pod is scheduled and running
		}
		r = newPodRun(k, p)
		k.pods[p.UID] = r
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			r.run(ctx)
		}()
	}
	k.mu.Unlock()
	r.observe(p)
}

func (k *kubelet) stopPod(uid types.UID, why string) {
	k.mu.Lock()
	r := k.pods[uid]
	k.mu.Unlock()
	if r == nil {
		return
	}
	r.stop(why)
	k.mu.Lock()
	if k.pods[uid] == r {
		delete(k.pods, uid)
		delete(k.ports, r.statusPort)
	}
	k.mu.Unlock()
}

// allocatePort picks a port free on every interface (the agent's status server binds ":port") and not handed to
// another agent of this process.
func (k *kubelet) allocatePort() (int, error) {
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		k.mu.Lock()
		taken := k.ports[p]
		if !taken {
			k.ports[p] = true
		}
		k.mu.Unlock()
		if !taken {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port")
}
