package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const readonlyRoleName = "istio-ca-test:readonly"

// Subresources that open a stream into a pod or node, or proxy to it. They are
// never granted to the read-only user, whatever verbs discovery lists for them.
var connectSubresources = map[string]bool{"exec": true, "attach": true, "portforward": true, "proxy": true}

// runReadonlyRBAC writes the ClusterRole istio-ca-test:readonly (get, list,
// watch on every resource served now, found by API discovery, except core
// secrets and the exec/attach/portforward/proxy subresources) and binds it to
// the user "readonly". RBAC has no deny rule, so the resources are enumerated;
// run it again after installing CRDs to cover them.
func runReadonlyRBAC() int {
	fs := flag.NewFlagSet("readonly-rbac", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "admin kubeconfig")
	kubecontext := fs.String("context", "admin", "context to use")
	user := fs.String("user", "readonly", "user to bind")
	dryRun := fs.Bool("print", false, "print the rules instead of applying them")
	_ = fs.Parse(os.Args[1:])

	rules := &clientcmd.ConfigOverrides{CurrentContext: *kubecontext}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: *kubeconfig}, rules).ClientConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "readonly-rbac: %v\n", err)
		return 1
	}
	cfg.QPS, cfg.Burst = 100, 200
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "readonly-rbac: %v\n", err)
		return 1
	}
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		fmt.Fprintf(os.Stderr, "readonly-rbac: discovery: %v\n", err)
		return 1
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "readonly-rbac: warning, partial discovery: %v\n", err)
	}

	byGroup := map[string]map[string]bool{}
	for _, l := range lists {
		gv := strings.SplitN(l.GroupVersion, "/", 2)
		group := ""
		if len(gv) == 2 {
			group = gv[0]
		}
		for _, r := range l.APIResources {
			main, sub, _ := strings.Cut(r.Name, "/")
			if group == "" && main == "secrets" {
				continue
			}
			if connectSubresources[sub] {
				continue
			}
			readable := false
			for _, v := range r.Verbs {
				if v == "get" || v == "list" || v == "watch" {
					readable = true
				}
			}
			if !readable {
				continue
			}
			if byGroup[group] == nil {
				byGroup[group] = map[string]bool{}
			}
			byGroup[group][r.Name] = true
		}
	}
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{
			Name:   readonlyRoleName,
			Labels: map[string]string{"istio-ca.test/cluster": "readonly"},
			Annotations: map[string]string{
				"istio-ca.test/generated": "by testcluster readonly-rbac from API discovery at " + time.Now().UTC().Format(time.RFC3339),
			},
		},
	}
	for _, g := range groups {
		res := make([]string, 0, len(byGroup[g]))
		for r := range byGroup[g] {
			res = append(res, r)
		}
		sort.Strings(res)
		role.Rules = append(role.Rules, rbacv1.PolicyRule{
			APIGroups: []string{g}, Resources: res, Verbs: []string{"get", "list", "watch"},
		})
	}
	role.Rules = append(role.Rules, rbacv1.PolicyRule{
		NonResourceURLs: []string{"/healthz", "/livez", "/readyz", "/version", "/api", "/api/*", "/apis", "/apis/*"},
		Verbs:           []string{"get"},
	})
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: readonlyRoleName, Labels: role.Labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: readonlyRoleName},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: *user}},
	}
	if *dryRun {
		for _, r := range role.Rules {
			fmt.Printf("%v %v %v\n", r.APIGroups, r.Resources, r.NonResourceURLs)
		}
		return 0
	}

	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "readonly-rbac: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	crs := cs.RbacV1().ClusterRoles()
	if old, err := crs.Get(ctx, role.Name, metav1.GetOptions{}); err == nil {
		role.ResourceVersion = old.ResourceVersion
		_, err = crs.Update(ctx, role, metav1.UpdateOptions{})
		if err != nil {
			fmt.Fprintf(os.Stderr, "readonly-rbac: update ClusterRole: %v\n", err)
			return 1
		}
	} else if apierrors.IsNotFound(err) {
		if _, err := crs.Create(ctx, role, metav1.CreateOptions{}); err != nil {
			fmt.Fprintf(os.Stderr, "readonly-rbac: create ClusterRole: %v\n", err)
			return 1
		}
	} else {
		fmt.Fprintf(os.Stderr, "readonly-rbac: get ClusterRole: %v\n", err)
		return 1
	}
	crbs := cs.RbacV1().ClusterRoleBindings()
	if _, err := crbs.Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		fmt.Fprintf(os.Stderr, "readonly-rbac: create ClusterRoleBinding: %v\n", err)
		return 1
	}
	n := 0
	for _, r := range role.Rules {
		n += len(r.Resources)
	}
	fmt.Fprintf(os.Stderr, "readonly-rbac: ClusterRole %s grants get/list/watch on %d resources in %d API groups to user %s\n",
		readonlyRoleName, n, len(groups), *user)
	return 0
}
