package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const (
	certDir       = "var/lib/istio/data"
	proxyName     = "istio-proxy"
	tokenAudience = "istio-ca"
)

// podRun is one pod's istio-proxy container: its directory, token, mounts and agent process.
type podRun struct {
	k                        *kubelet
	namespace, name, sa, uid string
	dir                      string
	statusPort               int
	rootSource               string // where root-cert.pem comes from (rootSourceOf)

	mu       sync.Mutex
	pod      *corev1.Pod
	cancel   context.CancelFunc
	done     chan struct{}
	stopping bool
	ready    bool
}

func newPodRun(k *kubelet, p *corev1.Pod) *podRun {
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	uid := string(p.UID)
	short := uid
	if len(short) > 8 {
		short = short[:8]
	}
	return &podRun{
		k: k, namespace: p.Namespace, name: p.Name, sa: sa, uid: uid,
		dir:        filepath.Join(k.cfg.stateDir, "pods", p.Namespace, p.Name+"-"+short),
		rootSource: rootSourceOf(p),
		pod:        p.DeepCopy(),
		done:       make(chan struct{}),
	}
}

func (r *podRun) id() string { return r.namespace + "/" + r.name }

func (r *podRun) logf(format string, args ...any) {
	log.Printf("%s: %s", r.id(), fmt.Sprintf(format, args...))
}

func (r *podRun) observe(p *corev1.Pod) {
	r.mu.Lock()
	r.pod = p.DeepCopy()
	r.mu.Unlock()
}

func (r *podRun) mountRootCert(data []byte) {
	if err := writeVolume(filepath.Join(r.dir, "var/run/secrets/istio"), map[string][]byte{"root-cert.pem": data}); err != nil {
		r.logf("mounting %s: %v", r.rootSource, err)
	}
}

// run prepares the pod's directory and runs its agent until the pod goes (ctx or stop).
func (r *podRun) run(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	r.mu.Lock()
	r.cancel = cancel
	if r.stopping {
		cancel()
	}
	r.mu.Unlock()
	defer close(r.done)
	defer cancel()

	for _, d := range []string{certDir, "etc/istio/proxy", "etc/istio/pod", "var/run/secrets/tokens", "var/run/secrets/istio"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o755); err != nil {
			r.logf("%v", err)
			return
		}
	}
	// Volumes first, as the kubelet mounts them before it starts a container: the ConfigMap (or the
	// ClusterTrustBundle) must exist.
	for r.k.rootCert(r.rootSource) == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	r.mountRootCert(r.k.rootCert(r.rootSource))
	r.mu.Lock()
	pod := r.pod
	r.mu.Unlock()
	_ = writeVolume(filepath.Join(r.dir, "etc/istio/pod"), map[string][]byte{
		"labels": downwardAPI(pod.Labels), "annotations": downwardAPI(pod.Annotations),
	})
	expires, err := r.refreshToken(ctx)
	if err != nil {
		r.logf("token: %v", err)
		return
	}
	go r.keepToken(ctx, expires)
	if err := r.k.ensureExec(ctx, pod, r.dir); err != nil {
		r.logf("kwok Exec resource (kubectl exec will not reach this pod): %v", err)
	}
	port, err := r.k.allocatePort()
	if err != nil {
		r.logf("status port: %v", err)
		return
	}
	r.statusPort = port

	// Like the kubelet's restartPolicy Always: an agent that exits is started again.
	for restarts := 0; ctx.Err() == nil; restarts++ {
		if restarts > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
		r.runAgent(ctx, pod, restarts)
	}
}

func (r *podRun) agentEnv(pod *corev1.Pod) []string {
	ip := pod.Status.PodIP
	if ip == "" {
		ip = "127.0.0.1"
	}
	proxyConfig, _ := json.Marshal(map[string]any{
		"discoveryAddress": r.k.cfg.discoveryAddress,
		"statusPort":       r.statusPort,
	})
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"DISABLE_ENVOY=true",
		"ISTIO_META_GENERATOR=grpc",
		"OUTPUT_CERTS=./" + certDir,
		"POD_NAME=" + r.name,
		"POD_NAMESPACE=" + r.namespace,
		"SERVICE_ACCOUNT=" + r.sa,
		"INSTANCE_IP=" + ip,
		"ISTIO_META_CLUSTER_ID=Kubernetes",
		"ISTIOD_SAN=" + r.k.cfg.istiodSAN,
		"SECRET_TTL=" + r.k.cfg.secretTTL,
		"PROXY_CONFIG=" + string(proxyConfig),
	}
	env = append(env, r.k.cfg.agentEnv...)
	// The container's own env wins, as in a pod (only literal values; valueFrom is not emulated).
	for _, c := range pod.Spec.Containers {
		if c.Name != proxyName {
			continue
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil && e.Name != "PROXY_CONFIG" {
				env = append(env, e.Name+"="+e.Value)
			}
		}
	}
	return env
}

func (r *podRun) runAgent(ctx context.Context, pod *corev1.Pod, restarts int) {
	logFile, err := os.OpenFile(filepath.Join(r.dir, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.logf("%v", err)
		return
	}
	defer logFile.Close()
	cmd := exec.Command(r.k.cfg.agentBin, "proxy", "sidecar")
	cmd.Dir = r.dir
	cmd.Env = r.agentEnv(pod)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The agent dies with this process, whatever kills it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		r.logf("starting pilot-agent: %v", err)
		return
	}
	r.logf("pilot-agent started (pid %d, status port %d, restarts %d)", cmd.Process.Pid, r.statusPort, restarts)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	readyCtx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	go r.probeReadiness(readyCtx, started, cmd.Process.Pid)
	select {
	case err := <-exited:
		r.logf("pilot-agent exited: %v (log %s)", err, filepath.Join(r.dir, "agent.log"))
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
}

// probeReadiness polls the agent's /healthz/ready (200 once its certificate is written) like a readiness probe,
// then marks the pod Ready and writes ready.json.
func (r *podRun) probeReadiness(ctx context.Context, started time.Time, pid int) {
	client := &http.Client{Timeout: time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz/ready", r.statusPort)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := client.Get(url)
		if err != nil {
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			continue
		}
		r.mu.Lock()
		already := r.ready
		r.ready = true
		r.mu.Unlock()
		if !already {
			r.logf("ready after %.1fs", time.Since(started).Seconds())
		}
		r.writeReadyMarker(pid)
		if err := r.markPodReady(ctx); err != nil && ctx.Err() == nil {
			r.logf("marking the pod Ready: %v", err)
		}
		return
	}
}

func (r *podRun) writeReadyMarker(pid int) {
	b, _ := json.Marshal(map[string]any{
		"namespace": r.namespace, "pod": r.name, "uid": r.uid, "serviceAccount": r.sa,
		"certDir": certDir, "statusPort": r.statusPort, "pid": pid,
	})
	if err := writeAtomic(filepath.Join(r.dir, "ready.json"), b, 0o644); err != nil {
		r.logf("%v", err)
	}
}

// markPodReady sets the Ready and ContainersReady conditions and every container's ready flag in the pod's status.
func (r *podRun) markPodReady(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		p, err := r.k.cs.CoreV1().Pods(r.namespace).Get(ctx, r.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if string(p.UID) != r.uid || p.DeletionTimestamp != nil {
			return nil
		}
		now := metav1.Now()
		set := func(t corev1.PodConditionType) {
			for i := range p.Status.Conditions {
				if p.Status.Conditions[i].Type == t {
					if p.Status.Conditions[i].Status != corev1.ConditionTrue {
						p.Status.Conditions[i].Status = corev1.ConditionTrue
						p.Status.Conditions[i].LastTransitionTime = now
					}
					return
				}
			}
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
		}
		set(corev1.PodReady)
		set(corev1.ContainersReady)
		for i := range p.Status.ContainerStatuses {
			p.Status.ContainerStatuses[i].Ready = true
			started := true
			p.Status.ContainerStatuses[i].Started = &started
		}
		_, err = r.k.cs.CoreV1().Pods(r.namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if err == nil || attempt >= 5 {
			return err
		}
		time.Sleep(100 * time.Millisecond) // a conflict with kwok's own status write: read again
	}
}

// refreshToken requests a token as the kubelet does for a projected serviceAccountToken volume and writes it.
func (r *podRun) refreshToken(ctx context.Context) (time.Time, error) {
	secs := int64(r.k.cfg.tokenTTL.Seconds())
	tr, err := r.k.cs.CoreV1().ServiceAccounts(r.namespace).CreateToken(ctx, r.sa, &authv1.TokenRequest{
		Spec: authv1.TokenRequestSpec{
			Audiences:         []string{tokenAudience},
			ExpirationSeconds: &secs,
			BoundObjectRef:    &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: r.name, UID: types.UID(r.uid)},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return time.Time{}, err
	}
	if err := writeVolume(filepath.Join(r.dir, "var/run/secrets/tokens"), map[string][]byte{"istio-token": []byte(tr.Status.Token)}); err != nil {
		return time.Time{}, err
	}
	return tr.Status.ExpirationTimestamp.Time, nil
}

// keepToken refreshes the token at 80 % of its lifetime, as the kubelet does.
func (r *podRun) keepToken(ctx context.Context, expires time.Time) {
	for {
		wait := time.Duration(float64(time.Until(expires)) * 0.8)
		if wait < 10*time.Second {
			wait = 10 * time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		e, err := r.refreshToken(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.logf("token refresh: %v", err)
			}
			continue
		}
		expires = e
	}
}

// stop ends the agent and removes the pod's directory; ready.json goes first, so the probe drops the pod
// before its files disappear.
func (r *podRun) stop(why string) {
	r.mu.Lock()
	if r.stopping {
		r.mu.Unlock()
		<-r.done
		return
	}
	r.stopping = true
	cancel := r.cancel
	r.mu.Unlock()
	_ = os.Remove(filepath.Join(r.dir, "ready.json"))
	if cancel != nil {
		cancel()
	}
	<-r.done
	_ = os.RemoveAll(r.dir)
	r.logf("stopped (%s)", why)
}
